"""The console's list of kiosk help requests (请工作人员帮忙), newest first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from backend.api import deps
from backend.console.routes import NeedsLogin, _ctx, _render, _to_login
from backend.services import audit, help_requests

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/help-requests")
def help_list(request: Request, session: Session = deps.DbSession) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    rows = [help_requests.out(r) for r in help_requests.recent(ctx)]
    audit.record(ctx, "read console help requests")
    return _render(request, "help_requests.html", rows=rows, user=ctx.actor.name)
