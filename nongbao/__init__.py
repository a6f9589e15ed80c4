"""Nongbao: the `nongbao` command that ties the parts together."""
