"""DOMAIN.md, section "Suspension, termination, recovery": which suspended months are paid
back, family binding's collection deadline, and the death or other-pension settlement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from backend import months
from backend.money import round_half_up
from backend.policy import Policy

# Suspension reasons and whether their months are paid back on resumption (arrears). The one
# table: the payroll's SQL, staff suspensions, review holds and duplicate-record holds read it.
ARREARS_BY_REASON: dict[str, bool] = {
    # the person was alive: a later certification pays the lapsed months (section Certification)
    "certification_lapsed": True,
    # months suspended because a child has not paid are NOT paid back
    "family_binding": False,
    "investigation": True,
    "manual": True,
    "other_pension": False,
    # a record sharing its ID number with another is held, not stopped (backend/identity_audit.py)
    "duplicate_id_number": True,
}


def arrears_paid_back(reason: str) -> bool:
    return ARREARS_BY_REASON[reason]


def lapse_lifted_through(certified_on: date) -> str:
    """A lapse lifted by a certification ends with the month before the certification's month."""
    return months.add(months.of(certified_on), -1)


def collection_deadline(policy: Policy, year: int) -> date:
    """The day by which a child who must enrol has to have paid for `year` (default 30 June)."""
    return date.fromisoformat(f"{year}-{policy.collection_deadline}")


def family_binding_checked(policy: Policy, run_on: date) -> bool:
    """A payroll after the year's collection deadline suspends parents whose children have not paid."""
    return run_on > collection_deadline(policy, run_on.year)


def youngest_payer_born_from(policy: Policy, year: int) -> date:
    """Children born on or after this day still contribute in `year` (they are not yet 60 in it)."""
    return date(year - policy.pension_age + 1, 1, 1)


def child_must_pay(policy: Policy, child_birth: date, year: int) -> bool:
    must = child_birth.year + policy.pension_age - 1 >= year
    assert must == (child_birth >= youngest_payer_born_from(policy, year))
    return must


NON_GOVERNMENT = ("personal", "collective", "other")


@dataclass(frozen=True)
class SettlementAmounts:
    inheritable_fen: int
    returned_to_fund_fen: int
    offset_fen: int  # overpayment taken from the inheritable balance
    to_heirs_fen: int  # before the funeral grant
    recovery_due_fen: int  # to collect with a recovery order
    government_inheritable: bool

    def __post_init__(self) -> None:
        assert self.offset_fen + self.to_heirs_fen == self.inheritable_fen
        assert self.recovery_due_fen >= 0


def government_inheritable(policy: Policy, reason: str, last_day: date) -> bool:
    """Death: by the policy in force on the date of death; another pension: never (the person
    keeps their own money, not the subsidy)."""
    return reason == "death" and policy.government_inheritable_on(last_day)


def settlement(
    policy: Policy, reason: str, last_day: date, balances: Mapping[str, int], overpaid_fen: int
) -> SettlementAmounts:
    """inheritable = non-government buckets (+ government where inheritable); returned to fund =
    the government bucket otherwise; offset = min(overpaid, inheritable); heirs = the rest;
    recovery due = overpaid - offset."""
    assert overpaid_fen >= 0
    gov = government_inheritable(policy, reason, last_day)
    buckets = [*NON_GOVERNMENT, *(("government",) if gov else ())]
    inheritable = sum(balances.get(b, 0) for b in buckets)
    returned = 0 if gov else balances.get("government", 0)
    offset = min(overpaid_fen, inheritable)
    return SettlementAmounts(
        inheritable, returned, offset, inheritable - offset, overpaid_fen - offset, gov
    )


def draws_back(
    line_draws: Mapping[str, int], line_months: int, overpaid_months: int, overpaid_account_fen: int
) -> dict[str, int]:
    """The account drawdowns of overpaid months go back where they came from: each bucket gets
    its share (overpaid months / months of the line) of what the line drew from it, rounded;
    the pool gets the rest of the overpaid account pension."""
    assert 0 < overpaid_months <= line_months
    share = Fraction(overpaid_months, line_months)
    back = {b: round_half_up(Fraction(v) * share) for b, v in line_draws.items()}
    back["pool"] = overpaid_account_fen - sum(back.values())
    return back


def funeral_grant_fen(policy: Policy, reason: str) -> int:
    return policy.funeral_grant_fen if reason == "death" else 0
