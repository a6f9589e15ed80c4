"""Fixtures of the notices tests: the SMS gateway simulator (a real process)."""

from tests.sms_sim import sms_sim

__all__ = ["sms_sim"]
