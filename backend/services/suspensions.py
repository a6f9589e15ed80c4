"""Suspensions by staff (investigation, manual) and duplicate-record holds: who, when and why;
lifted with a note."""

from __future__ import annotations

from sqlmodel import col, select

from backend import ledger, months
from backend.errors import Conflict, NotFound, RuleRefused, field_error
from backend.models import Person, Suspension, utcnow
from backend.rules.suspension import ARREARS_BY_REASON
from backend.services import registry
from backend.services.context import Ctx

STAFF_REASONS = ("investigation", "manual")
# a payment hold on a record that shares its ID number with another (backend/identity_audit.py)
DUPLICATE = "duplicate_id_number"


def suspend(ctx: Ctx, person_id: str, reason: str, from_month: str, note: str) -> Suspension:
    person = registry.lock(ctx, person_id)
    if reason not in STAFF_REASONS:
        raise field_error(
            "reason",
            f"staff suspend for {' or '.join(STAFF_REASONS)}; lapses and family binding are applied by the payroll, another pension ends the entitlement",
        )
    if person.status not in ("receiving", "suspended"):
        raise RuleRefused(f"only a pensioner can be suspended; the person is {person.status}")
    if not note.strip():
        raise field_error("note", "say why")
    from_month = months.parse(from_month, "from_month")
    if ctx.session.exec(
        select(Suspension.id).where(
            Suspension.person_id == person_id,
            Suspension.reason == reason,
            col(Suspension.lifted_at).is_(None),
        )
    ).first():
        raise Conflict(f"an open {reason} suspension exists already")
    row = Suspension(
        id=ledger.new_id("sus")[:40],
        person_id=person_id,
        reason=reason,
        from_month=from_month,
        arrears=ARREARS_BY_REASON[reason],
        note=note,
        created_by=ctx.actor.label,
    )
    ctx.session.add(row)
    person.status = "suspended"
    ctx.session.add(person)
    return row


def check_liftable(row: Suspension, ctx: Ctx | None = None) -> None:
    if row.lifted_at is not None:
        raise Conflict("this suspension has already been lifted", code="not_pending")
    if row.reason == DUPLICATE:
        if ctx is not None:
            _require_sole_record(ctx, row.person_id)
        return
    if row.reason not in STAFF_REASONS:
        raise RuleRefused(
            "this suspension lifts itself: by a certification (lapse) or when the children pay (family binding)"
        )


def _require_sole_record(ctx: Ctx, person_id: str) -> None:
    """A duplicate's hold stays while another live record has the same number: lifting it then
    would pay one person twice. Cancel the wrong record first."""
    others = registry.other_live_records(ctx, registry.get(ctx, person_id))
    if others:
        raise Conflict(
            f"person {others[0]} has the same ID number and is not cancelled: cancel the wrong "
            "record first, then lift this hold",
            code="duplicate_not_resolved",
        )


def _adopt_canonical_number(ctx: Ctx, person: Person) -> None:
    """The record that stays is found by its number again: stored in the one ASCII form."""
    from backend.identity_audit import loose_canonical

    number = loose_canonical(registry.id_number_of(ctx, person))
    person.id_number_enc = ctx.keyring.encrypt_text(number, person.id)
    person.id_hash = ctx.keyring.lookup_hash(number)


def lift(ctx: Ctx, suspension_id: str, note: str) -> Suspension:
    """Lift now. Reached through services/four_eyes: a suspension two imposed (investigation)
    is lifted only when a second person confirms the proposal."""
    row = ctx.session.get(Suspension, suspension_id)
    if row is None:
        raise NotFound(f"no suspension {suspension_id}")
    check_liftable(row, ctx)
    if row.reason == DUPLICATE:
        _adopt_canonical_number(ctx, registry.get(ctx, row.person_id))
    row.lifted_at, row.lifted_by, row.lift_note = utcnow(), ctx.actor.label, note
    row.to_month = months.add(months.of(ctx.today), -1)
    ctx.session.add(row)
    person = registry.get(ctx, row.person_id)
    if not ctx.session.exec(
        select(Suspension.id).where(
            Suspension.person_id == row.person_id,
            col(Suspension.lifted_at).is_(None),
            Suspension.id != row.id,
        )
    ).first():
        person.status = "receiving"
        ctx.session.add(person)
    return row


def for_person(ctx: Ctx, person_id: str) -> list[Suspension]:
    registry.get(ctx, person_id)
    return list(
        ctx.session.exec(
            select(Suspension)
            .where(Suspension.person_id == person_id)
            .order_by(col(Suspension.created_at))
        ).all()
    )
