"""The review console (installed under /console)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    pass
