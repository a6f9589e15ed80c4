"""Console pages about reaching residents: a person's page (certification, SMS notices and
their delivery, family contacts). Registered on the console's router by `routes.install`."""

from __future__ import annotations

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.console.routes import NeedsLogin, _ctx, _render, _to_login, router
from backend.errors import DomainError
from backend.services import audit, certification, notices, registry

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
