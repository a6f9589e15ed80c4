"""Certification validity and its effect on payment: the one place both benefits and the
certification service ask "is this person certified on this date?"."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from backend.models import Certification, Person, Suspension, utcnow
from backend.rules import certification as rule
from backend.rules import suspension as suspension_rule
from backend.services.context import Ctx


def valid_until(policy_months: int, certified_on: date) -> date:
    """Certified 2026-03-15 -> valid through 2027-03-31 (the last day of the same month a cycle later)."""
    return rule.valid_until(policy_months, certified_on)


def record_passed(
    ctx: Ctx, person_id: str, channel: str, certified_on: date, **fields: Any
) -> Certification:
    """Record a successful certification and lift a lapse suspension (arrears follow in payroll)."""
    from backend.ledger import new_id

    cert = Certification(
        id=new_id("cer")[:40],
        person_id=person_id,
        channel=channel,
        outcome="passed",
        certified_on=certified_on,
        valid_until=rule.valid_until_for(ctx.policy, certified_on),
        actor=ctx.actor.label,
        **fields,
    )
    ctx.session.add(cert)
    ctx.session.flush()
    lift_lapse(ctx, person_id, certified_on)
    return cert


def lift_lapse(ctx: Ctx, person_id: str, on: date) -> None:
    open_lapses = ctx.session.exec(
        select(Suspension).where(
            Suspension.person_id == person_id,
            Suspension.reason == "certification_lapsed",
            col(Suspension.lifted_at).is_(None),
        )
    ).all()
    for s in open_lapses:
        s.lifted_at, s.lifted_by, s.lift_note = (
            utcnow(),
            ctx.actor.label,
            f"certified on {on.isoformat()}",
        )
        s.to_month = suspension_rule.lapse_lifted_through(on)
        ctx.session.add(s)
    person = ctx.session.get(Person, person_id)
    if (
        open_lapses
        and person is not None
        and person.status == "suspended"
        and not _other_open_suspensions(ctx, person_id)
    ):
        person.status = "receiving"
        ctx.session.add(person)


def _other_open_suspensions(ctx: Ctx, person_id: str) -> bool:
    return (
        ctx.session.exec(
            select(Suspension.id).where(
                Suspension.person_id == person_id, col(Suspension.lifted_at).is_(None)
            )
        ).first()
        is not None
    )


def latest_valid(ctx: Ctx, person_id: str, on: date) -> Certification | None:
    """The passed certification in force on `on` (dated on or before it), if any."""
    return ctx.session.exec(
        select(Certification)
        .where(
            Certification.person_id == person_id,
            Certification.outcome == "passed",
            Certification.certified_on <= on,
        )
        .order_by(col(Certification.certified_on).desc())
    ).first()


def certified_since(ctx: Ctx, person_id: str, since: date) -> Certification | None:
    """The certification in force today if it was made on or after `since`: what a field
    visit planned from a work list downloaded on `since` finds out on arrival."""
    valid = latest_valid(ctx, person_id, ctx.today)
    return valid if valid is not None and valid.certified_on >= since else None
