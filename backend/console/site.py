"""The review console as one piece: the pages of routes.py and of outreach.py (which adds
its pages to the same router, so it is imported here, never by routes.py) and the static
files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from backend.console import outreach
from backend.console.routes import HERE, router

PAGE_MODULES = (outreach,)  # imported for the pages they add to `router`


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
