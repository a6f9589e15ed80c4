"""DOMAIN.md, section "Contributions": the tier, the government subsidy, paid on behalf."""

from __future__ import annotations

from datetime import date
from typing import Literal

from backend.policy import Policy

Kind = Literal["normal", "back_payment", "on_behalf"]
KINDS: tuple[Kind, ...] = ("normal", "back_payment", "on_behalf")


def last_contribution_year(policy: Policy, birth_date: date) -> int:
    """Contributions run up to the year before the year of the pension-age birthday."""
    return birth_date.year + policy.pension_age - 1


def kind_for_year(year: int, paid_on: date) -> Kind:
    """A payment for the year it is paid in is `normal`; for an earlier year, a back payment."""
    assert year <= paid_on.year, "no payment for a later year"
    return "normal" if year == paid_on.year else "back_payment"


def tier_fen(policy: Policy, kind: str, personal_fen: int, paid_on: date) -> int:
    """The tier the contribution counts as: paid on behalf is the lowest tier of the set in
    force on the payment date; otherwise the personal amount, which must be one of its tiers."""
    pset = policy.set_on(paid_on)
    if kind == "on_behalf":
        return pset.lowest_tier_fen
    assert personal_fen in pset.tiers_fen, "the caller checks the tier first"
    return personal_fen


def subsidy_fen(policy: Policy, kind: str, tier: int, paid_on: date) -> int:
    """The government subsidy for the tier; a back payment for a missed year gets none."""
    if kind == "back_payment":
        return 0
    subsidy = policy.set_on(paid_on).subsidy_fen[tier]
    assert subsidy >= 0
    return subsidy


def government_fen(kind: str, tier: int, subsidy: int) -> int:
    """What goes into the `government` bucket: the subsidy, plus the tier when the county pays it."""
    return subsidy + (tier if kind == "on_behalf" else 0)
