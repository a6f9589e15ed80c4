"""The cross-cutting part of the audit: every successful write through the audited routers
appends an event in the route's own unit of work (see backend/services/audit.py)."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlmodel import Session

from backend.api import deps
from backend.services.context import Actor

READS = ("GET", "HEAD", "OPTIONS")


def audit_writes(
    request: Request,
    who: Actor | None = Depends(deps.optional_actor),
    session: Session = deps.DbSession,
) -> Iterator[None]:
    """Router dependency (declare it with scope="function"): after a write route returns
    normally, its event joins the same transaction, committed before the response is sent."""
    yield
    if request.method in READS or who is None:
        return  # reads are audited by audit_reads; sign-in writes for no one
    if getattr(request.state, "audited", False):
        return  # the route wrote its event in its own unit of work (deps.write_event)
    deps.write_event(request, session, who)
