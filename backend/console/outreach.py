"""Console pages about reaching residents: a person's page (certification, SMS notices and
their delivery, family contacts). Registered on the console's router by `routes.install`."""

from __future__ import annotations

from datetime import date

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.console.routes import NeedsLogin, _ctx, _render, _to_login, router
from backend.errors import DomainError
from backend.reports import certification as certification_report
from backend.reports.model import Section
from backend.services import audit, certification, notices, registry
from backend.services.context import Ctx

PersonId = PathParam(max_length=40, pattern=ID_PATTERN)


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(
    request: Request, person_id: str = PersonId, session: Session = deps.DbSession
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    try:
        person = registry.get(ctx, person_id)
        status = certification.status(ctx, person_id)
        sent = notices.for_person(ctx, person_id)
        contacts = notices.family_contacts(ctx, person_id)
    except DomainError as exc:
        return _render(
            request, "error.html", exc.status, error_text=exc.detail, user=ctx.actor.name
        )
    audit.record(ctx, "read console person", person_id)  # notices carry phone numbers (masked)
    return _render(
        request,
        "person.html",
        person=person,
        cert=status,
        notices=sent,
        contacts=contacts,
        user=ctx.actor.name,
    )


def _silent_report(request: Request, session: Session) -> tuple[Ctx, Section, date]:
    ctx = _ctx(request, session)
    on = ctx.today
    rep = certification_report.report(session, ctx.keyring, on)
    return ctx, rep.section(certification_report.SILENT_TITLE), on


@router.get("/silent", response_class=HTMLResponse)
def silent_page(request: Request, session: Session = deps.DbSession) -> Response:
    """The county director's figure: certified without coming in, per village (counts only)."""
    try:
        ctx, section, on = _silent_report(request, session)
    except NeedsLogin:
        return _to_login()
    return _render(request, "silent.html", section=section, on=on, user=ctx.actor.name)


@router.get("/silent.png")
def silent_chart(request: Request, session: Session = deps.DbSession) -> Response:
    try:
        _, section, on = _silent_report(request, session)
    except NeedsLogin:
        return _to_login()
    png = certification_report.silent_chart(section, on)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
