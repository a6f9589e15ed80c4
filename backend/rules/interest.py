"""DOMAIN.md, section "Interest": per bucket, round(balance at the start of Y x rate of Y),
credited on 31 December of Y."""

from __future__ import annotations

from datetime import date

from backend.money import mul_rate
from backend.policy import Policy


def credit_day(year: int) -> date:
    return date(year, 12, 31)


def interest_fen(policy: Policy, opening_balance_fen: int, year: int) -> int:
    """Money that arrives during Y earns nothing in Y: only the opening balance counts."""
    if opening_balance_fen <= 0:
        return 0
    amount = mul_rate(opening_balance_fen, policy.interest_rate(year))
    assert 0 <= amount <= opening_balance_fen, "a rate is a fraction below 1"
    return amount
