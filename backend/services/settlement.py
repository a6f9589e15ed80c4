"""The end of entitlement: death or another pension. Overpayment by month, the account
settled (inheritable or back to the fund), offset against heirs, a recovery order for the rest.

Order (DOMAIN.md): reverse the drawdowns of overpaid months back into the buckets they came
from; pay the heirs the owed months up to the end; inheritable = non-government buckets (+ the
government bucket where the policy on the date of death makes it inheritable), the rest of the
government bucket back to the pool; offset = min(overpaid, inheritable); heirs get
inheritable - offset (+ funeral grant); recovery due = overpaid - offset.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import col, select

from backend import ledger, months
from backend.answers_staff import SettlementOut
from backend.errors import Conflict, NotFound, RuleRefused, field_error
from backend.ledger import Transfer, bucket_code
from backend.models import (
    BUCKETS,
    Death,
    LedgerAccount,
    LedgerTransfer,
    PaidMonth,
    PayrollLine,
    Person,
    RecoveryOrder,
    Suspension,
    Termination,
    utcnow,
)
from backend.rules import award as award_rule
from backend.rules import payment as payment_rule
from backend.rules import suspension as suspension_rule
from backend.services import awards
from backend.services.context import Ctx

NON_GOVERNMENT = ("personal", "collective", "other")
# `review`: two county reviewers terminated the entitlement on a review case (four-eyes)
DEATH_SOURCES = (
    "manual_report",
    "civil_registry",
    "family_report",
    "field_visit",
    "hospital",
    "review",
)


# a settlement's figures are its answer (answers_staff.SettlementOut): one definition
Settlement = SettlementOut


def settle_termination(ctx: Ctx, person: Person, termination: Termination) -> Settlement:
    """The settlement of a termination a second person has confirmed (services/terminations)."""
    check_end(ctx, person, termination.reason, termination.effective_on, "effective_on")
    if termination.reason == "death":
        return _settle(
            ctx, person, termination.effective_on, "death", termination.source, termination.id
        )
    # dual pension: terminate from when the other began and recover everything paid after
    last_day = date.fromordinal(termination.effective_on.toordinal() - 1)
    source = termination.source
    if source == "other_pension":  # a clerk's report: its note says where it was found
        source = termination.note or "urban employee pension found"
    return _settle(ctx, person, last_day, "other_pension", source, termination.id)


def check_end(ctx: Ctx, person: Person, reason: str, on: date, field: str) -> None:
    """Every refusal of ending an entitlement (`reason` death or other_pension, from `on`),
    before anything is written: a review proposal to terminate is checked with this when it is
    made, not only when the second reviewer confirms it."""
    what = "the date of death" if reason == "death" else "the other pension's start date"
    if on > ctx.today:
        raise field_error(field, f"{what} is in the future")
    if on < person.birth_date:
        raise field_error(field, f"{what} is before the date of birth")
    if reason == "other_pension" and awards.live_award(ctx, person.id) is None:
        raise RuleRefused(
            "the person has no award; record the employee pension as a change instead"
        )
    _refuse_if_ended(ctx, person)


def _refuse_if_ended(ctx: Ctx, person: Person) -> None:
    if in_force(ctx, person.id):
        raise Conflict(
            "this person's entitlement has already been ended and settled", code="already_settled"
        )
    if person.status in ("cancelled",):
        raise RuleRefused("the person's enrolment was cancelled; nothing to settle")


def in_force(ctx: Ctx, person_id: str) -> bool:
    """A settlement not reversed by a reinstatement."""
    return (
        ctx.session.exec(
            select(Death.id).where(Death.person_id == person_id, Death.reversed_at.is_(None))  # type: ignore[union-attr]
        ).first()
        is not None
    )


def _settle(
    ctx: Ctx,
    person: Person,
    last_day: date,
    reason: str,
    source: str,
    termination_id: str,
) -> Settlement:
    _refuse_if_ended(ctx, person)
    end_month = months.of(last_day)
    key = f"settlement:{termination_id}"
    transfers: list[Transfer] = []
    balances = _balances(ctx, person.id)

    interest_back = (
        _reverse_interest_of_death_year(ctx, person.id, last_day, balances, transfers)
        if reason == "death"
        else 0
    )
    overpaid = _reverse_overpaid(ctx, person.id, end_month, balances, transfers, last_day)
    owed = _pay_owed_months(ctx, person, end_month, balances, transfers, last_day)

    amounts = suspension_rule.settlement(ctx.policy, reason, last_day, balances, overpaid)
    gov_inheritable = amounts.government_inheritable
    inheritable_buckets = [*NON_GOVERNMENT, *(("government",) if gov_inheritable else ())]
    inheritable, returned = amounts.inheritable_fen, amounts.returned_to_fund_fen
    if returned:
        transfers.append(
            Transfer(
                bucket_code(person.id, "government"),
                "fund:pool",
                returned,
                "settlement_to_fund",
                last_day,
            )
        )
        balances["government"] = 0
    offset = amounts.offset_fen
    _take(
        person.id,
        inheritable_buckets,
        offset,
        "receivable:recoveries",
        "settlement_offset",
        balances,
        transfers,
        last_day,
    )
    heirs = amounts.to_heirs_fen
    _take(
        person.id,
        inheritable_buckets,
        heirs,
        "payable:heirs",
        "settlement_heirs",
        balances,
        transfers,
        last_day,
    )
    funeral = suspension_rule.funeral_grant_fen(ctx.policy, reason)
    if funeral:
        transfers.append(
            Transfer(
                "fiscal:county:funeral_grant", "payable:heirs", funeral, "funeral_grant", last_day
            )
        )
    due = amounts.recovery_due_fen
    posting = (
        ledger.post(
            ctx.session,
            idempotency_key=key,
            operation=f"settlement:{reason}",
            on=ctx.today,
            transfers=transfers,
            person_id=person.id,
            memo=source,
            created_by=ctx.actor.label,
        )
        if transfers
        else None
    )

    order_id = None
    if due:
        order = RecoveryOrder(
            id=ledger.new_id("rec")[:40], person_id=person.id, reason=reason, due_fen=due
        )
        ctx.session.add(order)
        order_id = order.id
    death_id = ledger.new_id("dth")[:40]
    result = Settlement(
        overpaid_fen=overpaid,
        inheritable_fen=inheritable,
        offset_fen=offset,
        paid_to_heirs_fen=heirs + funeral,
        returned_to_fund_fen=returned,
        recovery_due_fen=due,
        funeral_grant_fen=funeral,
        owed_months_paid_to_heirs_fen=owed,
        interest_reversed_fen=interest_back,
        recovery_order_id=order_id,
        death_id=death_id,
    )
    ctx.session.add(
        Death(
            id=death_id,
            termination_id=termination_id,
            person_id=person.id,
            date_of_death=last_day,
            source=source[:40],
            reported_on=ctx.today,
            # the death's record keeps the settlement's figures, as answered
            **result.model_dump(exclude={"recovery_order_id", "death_id"}),
            reason=reason,
            posting_id=posting.posting_id if posting else None,
            created_by=ctx.actor.label,
        )
    )
    for s in ctx.session.exec(
        select(Suspension).where(
            Suspension.person_id == person.id, col(Suspension.lifted_at).is_(None)
        )
    ).all():
        s.lifted_at, s.lifted_by, s.lift_note, s.to_month = (
            utcnow(),
            ctx.actor.label,
            f"entitlement ended ({reason})",
            end_month,
        )
        ctx.session.add(s)
    person.status = "terminated"
    ctx.session.add(person)
    ctx.session.flush()
    return result


def _balances(ctx: Ctx, person_id: str) -> dict[str, int]:
    return {b: v for b, v in ledger.person_buckets(ctx.session, person_id).items() if b in BUCKETS}


def _reverse_interest_of_death_year(
    ctx: Ctx, person_id: str, last_day: date, balances: dict[str, int], transfers: list[Transfer]
) -> int:
    """An account settled at death earns no interest for the year of death."""
    t, a = LedgerTransfer.__table__.c, LedgerAccount.__table__.c
    rows = ctx.session.execute(
        sa.select(a.bucket, sa.func.sum(t.amount_fen))
        .join(LedgerAccount.__table__, a.id == t.credit_account_id)
        .where(a.person_id == person_id, t.code == "interest", t.on == date(last_day.year, 12, 31))
        .group_by(a.bucket)
    ).all()
    total = 0
    for bucket, amount in rows:
        amount = min(int(amount), balances[bucket])
        if amount > 0:
            transfers.append(
                Transfer(
                    bucket_code(person_id, bucket),
                    "fund:interest",
                    amount,
                    "interest_reversed",
                    last_day,
                )
            )
            balances[bucket] -= amount
            total += amount
    return total


def _reverse_overpaid(
    ctx: Ctx,
    person_id: str,
    end_month: str,
    balances: dict[str, int],
    transfers: list[Transfer],
    on: date,
) -> int:
    """Months paid after the end: the amount to recover; their drawdowns go back where they came from."""
    overpaid_rows = ctx.session.exec(
        select(PaidMonth).where(
            PaidMonth.person_id == person_id,
            PaidMonth.month > end_month,
            col(PaidMonth.recovered_at).is_(None),
        )
    ).all()
    if not overpaid_rows:
        return 0
    by_run: dict[str, list[PaidMonth]] = {}
    for row in overpaid_rows:
        by_run.setdefault(row.run_id, []).append(row)
    back: dict[str, int] = dict.fromkeys([*BUCKETS, "pool"], 0)
    for run_id, rows in by_run.items():
        line = ctx.session.exec(
            select(PayrollLine).where(
                PayrollLine.run_id == run_id, PayrollLine.person_id == person_id
            )
        ).first()
        if line is None:
            continue
        parts = {
            "government": line.from_government_fen,
            "personal": line.from_personal_fen,
            "collective": line.from_collective_fen,
            "other": line.from_other_fen,
        }
        account_total = sum(r.account_fen for r in rows)
        for where, amount in suspension_rule.draws_back(
            parts, line.months, len(rows), account_total
        ).items():
            back[where] += amount
    basic_central = sum(r.central_fen for r in overpaid_rows)
    basic_county = sum(r.county_fen for r in overpaid_rows)
    basic_provincial = sum(r.basic_fen for r in overpaid_rows) - basic_central - basic_county
    for bucket in BUCKETS:
        if back[bucket]:
            transfers.append(
                Transfer(
                    "receivable:recoveries",
                    bucket_code(person_id, bucket),
                    back[bucket],
                    "overpaid_drawdown_reversed",
                    on,
                )
            )
            balances[bucket] += back[bucket]
    for account, amount in (
        ("fund:pool", back["pool"]),
        ("fiscal:central:basic_pension", basic_central),
        ("fiscal:provincial:basic_pension", basic_provincial),
        ("fiscal:county:basic_pension", basic_county),
    ):
        if amount:
            transfers.append(
                Transfer("receivable:recoveries", account, amount, "overpaid_reversed", on)
            )
    now = utcnow()
    for row in overpaid_rows:
        row.recovered_at = now
        ctx.session.add(row)
    return sum(r.basic_fen + r.account_fen for r in overpaid_rows)


def _pay_owed_months(
    ctx: Ctx,
    person: Person,
    end_month: str,
    balances: dict[str, int],
    transfers: list[Transfer],
    on: date,
) -> int:
    """Months up to the end that were owed and unpaid go to the heirs with the settlement."""
    award = awards.live_award(ctx, person.id)
    if award is None:
        return 0
    paid = set(
        ctx.session.exec(select(PaidMonth.month).where(PaidMonth.person_id == person.id)).all()
    )
    no_arrears = ctx.session.exec(
        select(Suspension).where(
            Suspension.person_id == person.id, col(Suspension.arrears).is_(False)
        )
    ).all()
    owed = payment_rule.owed_months(
        payment_rule.AwardFacts(
            award.first_month,
            award.settled_through,
            award.contribution_years,
            award.account_pension_fen,
            award.government_part_fen,
        ),
        end_month,
        paid,
        [payment_rule.SuspensionSpan(s.from_month, s.to_month, False) for s in no_arrears],
    )
    total = 0
    for m in owed:
        pension = award_rule.basic_pension(ctx.policy, m, award.contribution_years)
        basic = pension.total_fen
        for account, amount in (
            ("fiscal:central:basic_pension", pension.central_fen),
            ("fiscal:provincial:basic_pension", pension.provincial_fen),
            ("fiscal:county:basic_pension", pension.county_fen),
        ):
            if amount:
                transfers.append(
                    Transfer(account, "payable:heirs", amount, "owed_basic_pension", on)
                )
        gov_need, rest_need = (
            award.government_part_fen,
            award.account_pension_fen - award.government_part_fen,
        )
        gov = _take(
            person.id,
            ("government",),
            min(gov_need, balances["government"]),
            "payable:heirs",
            "owed_account_pension",
            balances,
            transfers,
            on,
        )
        rest = _take(
            person.id,
            NON_GOVERNMENT,
            min(rest_need, sum(balances[b] for b in NON_GOVERNMENT)),
            "payable:heirs",
            "owed_account_pension",
            balances,
            transfers,
            on,
        )
        pool = award.account_pension_fen - gov - rest
        if pool:
            transfers.append(
                Transfer("fund:pool", "payable:heirs", pool, "owed_account_pension", on)
            )
        total += basic + award.account_pension_fen
    return total


def _take(
    person_id: str,
    buckets: tuple[str, ...] | list[str],
    amount: int,
    to: str,
    code: str,
    balances: dict[str, int],
    transfers: list[Transfer],
    on: date,
) -> int:
    """Move `amount` out of the buckets in order (personal, collective, other, government)."""
    left = amount
    for bucket in buckets:
        part = min(left, balances[bucket])
        if part > 0:
            transfers.append(Transfer(bucket_code(person_id, bucket), to, part, code, on))
            balances[bucket] -= part
            left -= part
    return amount - left


def repay(ctx: Ctx, order_id: str, amount_fen: int, paid_on: date) -> RecoveryOrder:
    order = ctx.session.get(RecoveryOrder, order_id, with_for_update=True)
    if order is None:
        raise NotFound(f"no recovery order {order_id}")
    if amount_fen <= 0:
        raise field_error("amount_fen", "a repayment is a positive number of fen")
    if paid_on > ctx.today:
        raise field_error("paid_on", "the repayment date is in the future")
    outstanding = order.due_fen - order.repaid_fen
    if amount_fen > outstanding:
        raise RuleRefused(f"only {outstanding} fen is still due on this order")
    ledger.post(
        ctx.session,
        idempotency_key=f"repayment:{order_id}:{order.repaid_fen}:{amount_fen}",
        operation="recovery_repayment",
        on=paid_on,
        transfers=[
            Transfer("source:repayments", "receivable:recoveries", amount_fen, "repayment", paid_on)
        ],
        person_id=order.person_id,
        created_by=ctx.actor.label,
    )
    order.repaid_fen += amount_fen
    order.status = "settled" if order.repaid_fen == order.due_fen else "open"
    ctx.session.add(order)
    return order
