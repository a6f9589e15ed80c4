"""DOMAIN.md, section "Monthly payment": which months a payroll pays a person, the line it
writes (period, arrears, total) and where the account pension is drawn from.

`line` is the Python statement of what the set-based SQL in backend/services/payroll.py
does for one person; tests/backend/test_rules_payroll_property.py checks the two agree, fen
by fen, on random counties."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from backend import months
from backend.policy import Policy
from backend.rules import award as award_rule

# the account pension's non-government part is drawn from these buckets, in this order;
# whatever they cannot cover comes from the fund's pool
DRAW_ORDER = ("personal", "collective", "other")
BUCKETS = ("government", *DRAW_ORDER)


def payroll_date(policy: Policy, period: str) -> date:
    """The default payroll date: the county's payroll day of the month (banks pay by the 25th)."""
    return date(int(period[:4]), int(period[5:]), policy.payroll_day)


@dataclass(frozen=True)
class AwardFacts:
    first_month: str
    settled_through: str  # the last month paid or settled (first_month - 1 at the award)
    contribution_years: int
    account_pension_fen: int
    government_part_fen: int


@dataclass(frozen=True)
class SuspensionSpan:
    from_month: str
    to_month: str | None  # None while the suspension is open
    arrears: bool  # are its months paid back on resumption?

    def covers(self, month: str) -> bool:
        return self.from_month <= month and (self.to_month is None or month <= self.to_month)


def owed_months(
    award: AwardFacts,
    through: str,
    paid: Collection[str],
    suspensions: Sequence[SuspensionSpan],
    not_before: str | None = None,
) -> list[str]:
    """Every month from `first_month` through `through` that is after the settled month, not
    paid, and not in a suspension whose months are not paid back."""
    start = max(award.first_month, not_before) if not_before else award.first_month
    owed = [
        m
        for m in months.span(start, through)
        if m > award.settled_through
        and m not in paid
        and not any(s.covers(m) and not s.arrears for s in suspensions)
    ]
    assert all(award.first_month <= m <= through for m in owed)
    return owed


@dataclass(frozen=True)
class Draw:
    """Where a line's account pension comes from."""

    government_fen: int
    personal_fen: int
    collective_fen: int
    other_fen: int
    pool_fen: int

    @property
    def total_fen(self) -> int:
        return (
            self.government_fen
            + self.personal_fen
            + self.collective_fen
            + self.other_fen
            + self.pool_fen
        )


def draw(government_need: int, rest_need: int, balances: Mapping[str, int]) -> Draw:
    """The government part from the government bucket; the rest from personal, then
    collective, then other; what the buckets cannot cover, from the pool."""
    government = min(government_need, balances.get("government", 0))
    left, taken = rest_need, {}
    for bucket in DRAW_ORDER:
        taken[bucket] = min(left, balances.get(bucket, 0))
        left -= taken[bucket]
    pool = government_need - government + left
    result = Draw(government, taken["personal"], taken["collective"], taken["other"], pool)
    assert result.total_fen == government_need + rest_need, "a draw pays exactly the need"
    return result


@dataclass(frozen=True)
class Line:
    """One person's payroll line for a period."""

    months: int
    basic_fen: int  # the period's basic pension (0 if the period itself is not paid)
    account_fen: int  # the period's account pension
    arrears_fen: int  # earlier months paid now
    total_fen: int
    draw: Draw

    def __post_init__(self) -> None:
        assert self.months > 0
        assert self.total_fen == self.basic_fen + self.account_fen + self.arrears_fen
        assert min(self.basic_fen, self.account_fen, self.arrears_fen) >= 0


def line(
    policy: Policy,
    award: AwardFacts,
    period: str,
    paid: Collection[str],
    suspensions: Sequence[SuspensionSpan],
    balances: Mapping[str, int],
) -> Line | None:
    """What the payroll of `period` pays a receiving person (None: nothing owed)."""
    owed = owed_months(award, period, paid, suspensions, months.of(policy.scheme_start))
    if not owed:
        return None
    amounts = {
        m: award_rule.basic_pension_fen(policy, m, award.contribution_years)
        + award.account_pension_fen
        for m in owed
    }
    in_period = period in amounts
    basic = (
        award_rule.basic_pension_fen(policy, period, award.contribution_years) if in_period else 0
    )
    account = award.account_pension_fen if in_period else 0
    arrears = sum(v for m, v in amounts.items() if m != period)
    government_need = len(owed) * award.government_part_fen
    rest_need = len(owed) * award.account_pension_fen - government_need
    return Line(
        len(owed),
        basic,
        account,
        arrears,
        basic + account + arrears,
        draw(government_need, rest_need, balances),
    )
