"""Yearly interest: per bucket, round(balance at the start of the year x rate), on 31 December."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from backend import ledger
from backend.errors import RuleRefused, field_error
from backend.ledger import Transfer
from backend.models import InterestRun, LedgerAccount, LedgerTransfer, Person
from backend.rules import interest as rule
from backend.services.context import Ctx


@dataclass
class InterestResult:
    year: int
    accounts: int
    total_fen: int
    created: bool


def run(ctx: Ctx, year: int) -> InterestResult:
    s = ctx.session
    done = s.get(InterestRun, year)
    if done is not None:  # idempotent: the first result, nothing credited again
        return InterestResult(year, done.accounts, done.total_fen, created=False)
    first_year = ctx.policy.scheme_start.year
    if year < first_year:
        raise field_error("year", f"{year} is before the scheme started ({first_year})")
    credit_day = rule.credit_day(year)
    if credit_day > ctx.today:
        raise RuleRefused(
            f"interest for {year} is credited on {credit_day.isoformat()}; that day has not come"
        )
    if year > first_year and s.get(InterestRun, year - 1) is None:
        raise RuleRefused(f"interest for {year - 1} has not been run; run the years in order")
    transfers = [
        Transfer("fund:interest", code, amount, "interest", credit_day)
        for code, balance in opening_balances(s, date(year, 1, 1))
        if (amount := rule.interest_fen(ctx.policy, balance, year)) > 0
    ]
    posting_id = ""
    if transfers:
        posting_id = ledger.post(
            s,
            idempotency_key=f"interest:{year}",
            operation="interest",
            on=credit_day,
            transfers=transfers,
            created_by=ctx.actor.label,
        ).posting_id
    result = InterestRun(
        year=year,
        posting_id=posting_id,
        accounts=len(transfers),
        total_fen=sum(t.amount_fen for t in transfers),
    )
    s.add(result)
    s.flush()
    return InterestResult(year, result.accounts, result.total_fen, created=True)


def opening_balances(session: sa.orm.Session, start: date) -> list[tuple[str, int]]:
    """Each live person bucket's balance from transfers dated before `start` (set-based)."""
    t = LedgerTransfer.__table__.c
    a = LedgerAccount.__table__.c
    moves = sa.union_all(
        sa.select(t.credit_account_id.label("account_id"), t.amount_fen.label("amount")).where(
            t.on < start
        ),
        sa.select(t.debit_account_id.label("account_id"), (-t.amount_fen).label("amount")).where(
            t.on < start
        ),
    ).subquery()
    rows = session.execute(
        sa.select(a.code, sa.func.sum(moves.c.amount))
        .join(moves, moves.c.account_id == a.id)
        .join(Person.__table__, Person.__table__.c.id == a.person_id)
        .where(a.kind == "bucket", Person.__table__.c.status != "terminated")
        .group_by(a.code)
        .order_by(a.code)
    ).all()
    return [(code, int(total)) for code, total in rows if total and total > 0]
