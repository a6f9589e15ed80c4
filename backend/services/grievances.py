"""Grievances (申诉/信访): a resident's complaint about a suspension, a termination, a payment
or a certification, recorded by staff or raised from the kiosk's "请工作人员帮忙".

Each gets a due date (`grievances.due_working_days` working days after it was received,
weekends excluded), an assignee, and a resolution (upheld or not) that names the decision it
is about. Resolving a grievance changes no decision by itself: an upheld complaint is acted
on through the decision's own service (lifting a suspension, reinstating a termination, both
under four eyes), and the grievance links to it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select

from backend import ledger
from backend.answers_notices import GrievanceDecisionOut, GrievanceOut
from backend.errors import Conflict, NotFound, field_error
from backend.models import (
    GRIEVANCE_CATEGORIES,
    GRIEVANCE_DECISIONS,
    AppUser,
    Certification,
    Grievance,
    ReviewCase,
    Suspension,
    Termination,
)
from backend.services import audit, registry
from backend.services.context import Ctx

SOURCES = ("staff", "kiosk")
OUTCOMES = ("upheld", "not_upheld")
DECISION_TABLES: dict[str, Any] = {
    "suspension": Suspension,
    "termination": Termination,
    "certification": Certification,
    "review_case": ReviewCase,
}


def add_working_days(start: date, days: int) -> date:
    """`days` working days (Monday to Friday) after `start`."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def record(
    ctx: Ctx,
    person_id: str,
    *,
    category: str,
    description: str,
    source: str = "staff",
    source_ref: str | None = None,
    decision_kind: str | None = None,
    decision_id: str | None = None,
    assignee: str | None = None,
    received_on: date | None = None,
) -> Grievance:
    person = registry.get(ctx, person_id)
    registry.check_village_scope(ctx, person)
    if category not in GRIEVANCE_CATEGORIES:
        raise field_error("category", f"category is one of {', '.join(GRIEVANCE_CATEGORIES)}")
    if source not in SOURCES:
        raise field_error("source", f"source is one of {', '.join(SOURCES)}")
    if not description.strip():
        raise field_error("description", "say what the resident complains about")
    received = received_on or ctx.today
    if received > ctx.today or received < ctx.today - timedelta(days=366):
        raise field_error("received_on", "received today or within the past year")
    _check_decision(ctx, person.id, decision_kind, decision_id)
    if assignee is not None:
        _check_assignee(ctx, assignee)
    row = Grievance(
        id=ledger.new_id("grv")[:40],
        person_id=person.id,
        category=category,
        decision_kind=decision_kind,
        decision_id=decision_id,
        description=description.strip()[:4000],
        source=source,
        source_ref=source_ref,
        received_on=received,
        due_on=add_working_days(received, ctx.policy.grievances.due_working_days),
        assignee=assignee,
        created_by=ctx.actor.label,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(
        ctx, "grievance.record", row.id, after={"person_id": person.id, "category": category}
    )
    return row


def _check_decision(ctx: Ctx, person_id: str, kind: str | None, decision_id: str | None) -> None:
    if kind is None and decision_id is None:
        return
    if kind not in GRIEVANCE_DECISIONS or not decision_id:
        raise field_error(
            "decision_kind",
            f"name the decision by decision_kind ({', '.join(GRIEVANCE_DECISIONS)}) and decision_id",
        )
    row = ctx.session.get(DECISION_TABLES[kind], decision_id)
    if row is None or row.person_id != person_id:
        raise field_error(
            "decision_id", f"no {kind} {decision_id} of this person", code="unknown_decision"
        )


def _check_assignee(ctx: Ctx, username: str) -> None:
    user = ctx.session.exec(select(AppUser).where(AppUser.username == username)).first()
    if user is None or not user.active:
        raise field_error("assignee", f"no active user {username!r}", code="unknown_user")


def _get(ctx: Ctx, grievance_id: str) -> Grievance:
    row = ctx.session.get(Grievance, grievance_id)
    if row is None:
        raise NotFound(f"no grievance {grievance_id}")
    return row


def assign(ctx: Ctx, grievance_id: str, assignee: str) -> Grievance:
    row = _get(ctx, grievance_id)
    if row.status != "open":
        raise Conflict("this grievance is resolved already", code="not_open")
    _check_assignee(ctx, assignee)
    before = row.assignee
    row.assignee = assignee
    ctx.session.add(row)
    audit.record(
        ctx, "grievance.assign", row.id, before={"assignee": before}, after={"assignee": assignee}
    )
    return row


def resolve(
    ctx: Ctx,
    grievance_id: str,
    *,
    outcome: str,
    resolution: str,
    decision_kind: str | None = None,
    decision_id: str | None = None,
) -> Grievance:
    """Close it with the answer given to the resident. An upheld grievance names the decision
    it changes (given now, or when it was recorded)."""
    row = _get(ctx, grievance_id)
    if row.status != "open":
        raise Conflict("this grievance is resolved already", code="not_open")
    if outcome not in OUTCOMES:
        raise field_error("outcome", f"outcome is one of {', '.join(OUTCOMES)}")
    if not resolution.strip():
        raise field_error("resolution", "write the answer given to the resident")
    if decision_kind is not None or decision_id is not None:
        _check_decision(ctx, row.person_id, decision_kind, decision_id)
        row.decision_kind, row.decision_id = decision_kind, decision_id
    if outcome == "upheld" and row.decision_id is None:
        raise field_error(
            "decision_id",
            "an upheld grievance names the decision it changes",
            code="decision_required",
        )
    row.status, row.outcome = "resolved", outcome
    row.resolution = resolution.strip()[:4000]
    row.resolved_on, row.resolved_by = ctx.today, ctx.actor.label
    ctx.session.add(row)
    audit.record(ctx, "grievance.resolve", row.id, after={"outcome": outcome})
    return row


def listing(
    ctx: Ctx, *, status: str = "open", overdue: bool = False, person_id: str | None = None
) -> list[GrievanceOut]:
    query = select(Grievance).order_by(col(Grievance.due_on), col(Grievance.id))
    if status != "all":
        query = query.where(Grievance.status == status)
    if overdue:
        query = query.where(Grievance.status == "open", col(Grievance.due_on) < ctx.today)
    if person_id is not None:
        query = query.where(Grievance.person_id == person_id)
    return [out(ctx, g) for g in ctx.session.exec(query.limit(500)).all()]


def detail(ctx: Ctx, grievance_id: str) -> GrievanceOut:
    return out(ctx, _get(ctx, grievance_id))


def out(ctx: Ctx, g: Grievance) -> GrievanceOut:
    return GrievanceOut(
        grievance_id=g.id,
        person_id=g.person_id,
        category=g.category,
        decision=(
            GrievanceDecisionOut(kind=g.decision_kind, id=g.decision_id) if g.decision_id else None
        ),
        description=g.description,
        source=g.source,
        source_ref=g.source_ref,
        received_on=g.received_on.isoformat(),
        due_on=g.due_on.isoformat(),
        overdue=g.status == "open" and g.due_on < ctx.today,
        assignee=g.assignee,
        status=g.status,
        outcome=g.outcome,
        resolution=g.resolution,
        resolved_on=g.resolved_on.isoformat() if g.resolved_on else None,
    )
