"""The end of an entitlement, with four eyes (内控): one person reports, another confirms.

A report (a clerk's death report, another pension found, a civil-registry match, a reviewer's
terminate proposal) opens a *pending* termination: nothing is settled, but the payroll holds
the person's payment from its next run (services/payroll.py skips a person with a pending
termination). A second, different person then

- confirms it: the settlement runs (services/settlement.py) and the person is `terminated`; or
- rejects it: the hold ends, and the next payroll pays the held months as arrears (they were
  never marked paid, so the payroll's usual "every owed, unpaid month" pays them).

A confirmed termination found wrong is reinstated, again by two people: the first proposes,
a different one confirms; the settlement's posting is reversed by a reversing posting, its
recovery order cancelled, the overpaid months count as paid again, the person is `receiving`,
and the months since are paid as arrears by the next payroll.

Every step writes its audit event in the same transaction as the step.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from backend import ledger, months
from backend.answers_staff import ReinstatementOut, SettlementOut, TerminationOut
from backend.errors import Conflict, NotFound, field_error
from backend.models import (
    Death,
    PaidMonth,
    RecoveryOrder,
    ReviewCase,
    Termination,
    utcnow,
)
from backend.services import audit, registry, settlement
from backend.services.context import Ctx
from backend.services.maker_checker import require_second_person

REASONS = ("death", "other_pension")


def not_pending(what: str, status: str) -> Conflict:
    return Conflict(f"{what} is {status}, not pending", code="not_pending")


def get(ctx: Ctx, termination_id: str, *, lock: bool = False) -> Termination:
    query = select(Termination).where(Termination.id == termination_id)
    row = ctx.session.exec(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no termination {termination_id}")
    return row


def open_for(ctx: Ctx, person_id: str) -> Termination | None:
    return ctx.session.exec(
        select(Termination).where(
            Termination.person_id == person_id,
            Termination.status.in_(("pending", "confirmed", "reinstate_pending")),  # type: ignore[attr-defined]
        )
    ).first()


def report(
    ctx: Ctx,
    person_id: str,
    reason: str,
    effective_on: date,
    source: str,
    note: str = "",
    review_case_id: str | None = None,
) -> Termination:
    """Open a pending termination: every refusal is checked now, nothing is settled yet."""
    if reason not in REASONS:
        raise field_error("reason", f"a termination is for {' or '.join(REASONS)}")
    if reason == "death" and source not in settlement.DEATH_SOURCES:
        raise field_error("source", f"source must be one of {', '.join(settlement.DEATH_SOURCES)}")
    person = registry.lock(ctx, person_id)
    field = "date_of_death" if reason == "death" else "started_on"
    settlement.check_end(ctx, person, reason, effective_on, field)
    existing = open_for(ctx, person_id)
    if existing is not None:
        raise Conflict(
            f"termination {existing.id} of this person is already {existing.status}",
            code="termination_open",
        )
    row = Termination(
        id=ledger.new_id("trm")[:40],
        person_id=person_id,
        reason=reason,
        effective_on=effective_on,
        source=source[:40],
        note=note.strip()[:500],
        review_case_id=review_case_id,
        reported_by=ctx.actor.label,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, "termination.report", person_id, after=out(row))
    return row


def confirm(ctx: Ctx, termination_id: str, note: str = "") -> tuple[Termination, SettlementOut]:
    """The second person: the settlement runs and the person is terminated."""
    row = get(ctx, termination_id, lock=True)
    if row.status != "pending":
        raise not_pending("this termination", row.status)
    _refuse_same(ctx, row.reported_by, "this termination")
    person = registry.lock(ctx, row.person_id)
    before = out(row)
    done = settlement.settle_termination(ctx, person, row)
    if row.reason == "death":
        from backend.services import bank_returns

        # pension money the bank returned (holder deceased) can no longer reach the person:
        # to the heirs (or the settlement's recovery), in this transaction (docs/payments.md)
        bank_returns.settle_to_estate(ctx, row.person_id)
    row.status, row.decided_by, row.decided_at = "confirmed", ctx.actor.label, utcnow()
    row.decision_note = note.strip()[:500] or None
    row.death_id = done.death_id
    ctx.session.add(row)
    _close_case(ctx, row, "terminate", note)
    ctx.session.flush()
    result = done
    audit.record(
        ctx,
        "termination.confirm",
        row.person_id,
        before=before,
        after={**out(row), **result.model_dump()},
    )
    return row, result


def reject(ctx: Ctx, termination_id: str, note: str) -> Termination:
    """A pending report found wrong (the hold ends; the held months are paid as arrears), or a
    proposed reinstatement refused (the termination stays confirmed). Also four eyes: the
    reporter who could lift their own hold could keep paying a dead person."""
    if not note.strip():
        raise field_error("note", "say why")
    row = get(ctx, termination_id, lock=True)
    before = out(row)
    if row.status == "pending":
        _refuse_same(ctx, row.reported_by, "this termination")
        row.status, row.decided_by, row.decided_at = "rejected", ctx.actor.label, utcnow()
        row.decision_note = note.strip()[:500]
        _close_case(ctx, row, "reject", note)
        action = "termination.reject"
    elif row.status == "reinstate_pending":
        _refuse_same(ctx, row.reinstate_proposed_by or "", "this reinstatement")
        row.status = "confirmed"
        row.reinstate_note = (
            f"{row.reinstate_note or ''} | rejected by {ctx.actor.label}: {note.strip()}"[:1000]
        )
        row.reinstate_proposed_by = None
        action = "termination.reinstate.reject"
    else:
        raise not_pending("this termination", row.status)
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, action, row.person_id, before=before, after=out(row))
    return row


def reinstate(
    ctx: Ctx, termination_id: str, note: str
) -> tuple[Termination, ReinstatementOut | None]:
    """First call on a confirmed termination proposes (no reversal yet: None); a second,
    different person confirms."""
    if not note.strip():
        raise field_error("note", "say why the termination was wrong")
    row = get(ctx, termination_id, lock=True)
    before = out(row)
    if row.status == "confirmed":
        row.status, row.reinstate_proposed_by = "reinstate_pending", ctx.actor.label
        row.reinstate_note = note.strip()[:500]
        ctx.session.add(row)
        ctx.session.flush()
        audit.record(
            ctx, "termination.reinstate.propose", row.person_id, before=before, after=out(row)
        )
        return row, None
    if row.status != "reinstate_pending":
        raise Conflict(
            f"only a confirmed termination can be reinstated; this one is {row.status}",
            code="not_confirmed",
        )
    _refuse_same(ctx, row.reinstate_proposed_by or "", "this reinstatement")
    reversed_ = _reverse_settlement(ctx, row)
    row.status, row.reinstated_by, row.reinstated_at = "reinstated", ctx.actor.label, utcnow()
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(
        ctx,
        "termination.reinstate.confirm",
        row.person_id,
        before=before,
        after={**out(row), **reversed_.model_dump()},
    )
    return row, reversed_


def _reverse_settlement(ctx: Ctx, row: Termination) -> ReinstatementOut:
    person = registry.lock(ctx, row.person_id)
    death = ctx.session.get(Death, row.death_id) if row.death_id else None
    if death is None or death.reversed_at is not None:
        raise Conflict("this termination has no settlement in force", code="not_confirmed")
    orders = ctx.session.exec(
        select(RecoveryOrder).where(
            RecoveryOrder.person_id == person.id,
            RecoveryOrder.reason == death.reason,
            RecoveryOrder.status != "cancelled",
        )
    ).all()
    if any(o.repaid_fen for o in orders):
        # the repayments would have to be refunded first: a decision for the fund, not a click
        raise Conflict(
            "the recovery order has repayments; refund them before reinstating",
            code="recovery_partly_repaid",
        )
    reversal = None
    if death.posting_id:
        reversal = ledger.reverse(
            ctx.session,
            death.posting_id,
            on=ctx.today,
            idempotency_key=f"reinstatement:{death.posting_id}",
            memo=f"reinstated: termination {row.id}",
            created_by=ctx.actor.label,
        ).posting_id
    for order in orders:
        order.status = "cancelled"
        ctx.session.add(order)
    # the months the settlement counted as overpaid were rightly paid after all
    for paid in ctx.session.exec(
        select(PaidMonth).where(
            PaidMonth.person_id == person.id,
            PaidMonth.month > months.of(death.date_of_death),
            PaidMonth.recovered_at.is_not(None),  # type: ignore[union-attr]
        )
    ).all():
        paid.recovered_at = None
        ctx.session.add(paid)
    death.reversed_at, death.reversal_posting_id = utcnow(), reversal
    ctx.session.add(death)
    person.status = "receiving"
    ctx.session.add(person)
    return ReinstatementOut(
        reversal_posting_id=reversal,
        recovery_orders_cancelled=[o.id for o in orders],
        person_status=person.status,
    )


def _refuse_same(ctx: Ctx, proposer: str, what: str) -> None:
    require_second_person(proposer, ctx.actor, what)


def _close_case(ctx: Ctx, row: Termination, decision: str, note: str) -> None:
    """A registry match's review case is closed by the termination's decision."""
    if not row.review_case_id:
        return
    case = ctx.session.get(ReviewCase, row.review_case_id)
    if case is None or case.status == "closed":
        return
    case.status, case.decision, case.closed_at = "closed", decision, utcnow()
    case.second_reviewer = case.second_reviewer or ctx.actor.name
    case.second_note = case.second_note or (note.strip() or f"termination {row.id} {decision}")
    ctx.session.add(case)


def answer(row: Termination) -> TerminationOut:
    return TerminationOut(
        termination_id=row.id,
        person_id=row.person_id,
        reason=row.reason,
        effective_on=row.effective_on.isoformat(),
        source=row.source,
        status=row.status,
        reported_by=row.reported_by,
        decided_by=row.decided_by,
        reinstate_proposed_by=row.reinstate_proposed_by,
        reinstated_by=row.reinstated_by,
        review_case_id=row.review_case_id,
        payment_held=row.status == "pending",
    )


def out(row: Termination) -> dict[str, object]:
    """The termination as its audit events record it (the answer's fields)."""
    return answer(row).model_dump()


def list_for(ctx: Ctx, person_id: str) -> list[Termination]:
    registry.get(ctx, person_id)
    return list(
        ctx.session.exec(
            select(Termination)
            .where(Termination.person_id == person_id)
            .order_by(Termination.reported_at)  # type: ignore[arg-type]
        ).all()
    )


def pending(ctx: Ctx, limit: int = 200) -> list[Termination]:
    return list(
        ctx.session.exec(
            select(Termination)
            .where(Termination.status.in_(("pending", "reinstate_pending")))  # type: ignore[attr-defined]
            .order_by(Termination.reported_at)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    )
