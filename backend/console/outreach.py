"""Console pages about reaching residents: a person's page (certification, SMS notices and
their delivery, family contacts). Registered on the console's router by `routes.install`."""

from __future__ import annotations

import hmac
from datetime import date

from fastapi import Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.console.routes import COOKIE, NeedsLogin, _csrf, _ctx, _render, _to_login, router
from backend.errors import DomainError, field_error
from backend.models import GRIEVANCE_CATEGORIES, Person
from backend.reports import certification as certification_report
from backend.reports.model import Section
from backend.services import audit, certification, grievances, notices, registry
from backend.services.context import Ctx
from backend.validation import bad_character

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
    rep = certification_report.report(session, ctx.keyring, ctx.policy, on)
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


@router.get("/grievances", response_class=HTMLResponse)
def grievances_page(request: Request, session: Session = deps.DbSession) -> Response:
    """Open grievances, the overdue ones first and marked; and a form to record one."""
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    return _grievances(request, ctx)


def _grievances(
    request: Request, ctx: Ctx, status: int = 200, error_text: str = "", **form: str
) -> Response:
    rows = grievances.listing(ctx, status="open")
    names = {
        p.id: p.name
        for p in ctx.session.exec(
            select(Person).where(col(Person.id).in_({r.person_id for r in rows}))
        ).all()
    }
    overdue = [r for r in rows if r.overdue]
    audit.record(ctx, "read console grievances", "", after={"open": len(rows)})
    return _render(
        request,
        "grievances.html",
        status,
        page_path="/console/grievances",
        overdue=overdue,
        open_rows=[r for r in rows if not r.overdue],
        names=names,
        categories=GRIEVANCE_CATEGORIES,
        error_text=error_text,
        form=form,
        user=ctx.actor.name,
    )


@router.post("/grievances")
def record_grievance(
    request: Request,
    person_id: str = Form(default="", max_length=40),
    category: str = Form(default="", max_length=20),
    description: str = Form(default="", max_length=4000),
    source_ref: str = Form(default="", max_length=80),
    csrf: str = Form(default=""),
    session: Session = deps.DbSession,
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    if not hmac.compare_digest(
        csrf.encode(), _csrf(request, request.cookies.get(COOKIE, "")).encode()
    ):
        return _render(request, "error.html", 403, error_text="CSRF", user=ctx.actor.name)
    try:
        for name, value in (("description", description), ("source_ref", source_ref)):
            if bad_character(value, multi_line=name == "description") is not None:
                raise field_error(name, "a control character is not allowed", "control_character")
        grievances.record(
            ctx,
            person_id.strip(),
            category=category,
            description=description,
            source_ref=source_ref.strip() or None,
        )
    except DomainError as exc:
        session.rollback()
        return _grievances(
            request,
            ctx,
            exc.status,
            error_text=exc.detail,
            person_id=person_id,
            category=category,
            description=description,
            source_ref=source_ref,
        )
    return RedirectResponse("/console/grievances?msg=recorded", status_code=303)
