"""DOMAIN.md, section "Award at 60": eligibility by age at the scheme start, the first month,
the account pension fixed for life and its government part, the basic pension of a month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal

from backend import months
from backend.money import div_round, round_half_up
from backend.policy import Policy

Group = Literal["already_60", "near", "young"]
# "fewer than 15 years to 60 at the scheme start": the near group pays every year from the
# scheme start and counts at most this many; the young group needs at least this many
REQUIRED_YEARS = 15


def age_on(birth: date, on: date) -> int:
    """Completed years on a date."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def birthday(born: date, age: int) -> date:
    """The day a person reaches `age` (a 29 February birthday counts from 1 March)."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return date(born.year + age, 3, 1)


def near_group_min_age(policy: Policy) -> int:
    """45 under the default pension age of 60."""
    return policy.pension_age - REQUIRED_YEARS


def group(policy: Policy, birth_date: date) -> Group:
    """The eligibility group, by age at the county's scheme start date."""
    at_start = age_on(birth_date, policy.scheme_start)
    if at_start >= policy.pension_age:
        return "already_60"
    return "near" if at_start >= near_group_min_age(policy) else "young"


def first_month(policy: Policy, birth_date: date, enrolled_on: date) -> str:
    """The month after the month of the 60th birthday, or after enrolment for those already 60."""
    if age_on(birth_date, enrolled_on) >= policy.pension_age:
        return months.add(months.of(enrolled_on), 1)
    return months.add(months.of(birthday(birth_date, policy.pension_age)), 1)


def required_years(policy: Policy, birth_date: date) -> list[int]:
    """Near group: every year from the scheme-start year to the year before the 60th birthday's."""
    last = birth_date.year + policy.pension_age - 1
    return list(range(policy.scheme_start.year, last + 1))


def counted_years(g: Group, paid_years: int) -> int:
    """The contribution years that count: at most 15 for the near group."""
    assert paid_years >= 0
    return min(paid_years, REQUIRED_YEARS) if g == "near" else paid_years


def account_pension_fen(policy: Policy, account_total_fen: int) -> int:
    """round(account balance on the award date / 139), fixed for life."""
    pension = div_round(account_total_fen, policy.account_divisor)
    assert account_total_fen < 0 or pension >= 0
    return pension


def government_part_fen(account_pension: int, government_fen: int, account_total_fen: int) -> int:
    """round(account pension x government bucket at award / account total at award)."""
    if not account_total_fen:
        return 0
    part = div_round(account_pension * government_fen, account_total_fen)
    # a share of the pension: within it whenever the government bucket is within the total
    assert not 0 <= government_fen <= account_total_fen or 0 <= part <= account_pension
    return part


def long_contribution_bonus_fen(policy: Policy, contribution_years: int) -> int:
    """+bonus a month for each full contribution year beyond the base (15)."""
    return max(0, contribution_years - policy.long_contribution_base_years) * (
        policy.long_contribution_bonus_fen
    )


@dataclass(frozen=True)
class BasicPension:
    """A month's basic pension and who pays it: the central share of the minimum, the rest of
    the minimum (provincial), and the county's part (top-up and bonus)."""

    total_fen: int
    central_fen: int
    provincial_fen: int
    county_fen: int

    def __post_init__(self) -> None:
        assert self.total_fen == self.central_fen + self.provincial_fen + self.county_fen
        assert min(self.central_fen, self.provincial_fen, self.county_fen) >= 0


def central_part_fen(policy: Policy, month: str) -> int:
    """The central government's share of the month's central minimum, rounded."""
    return round_half_up(Fraction(policy.central_minimum_fen(month)) * policy.central_share_of())


def basic_pension(policy: Policy, month: str, contribution_years: int) -> BasicPension:
    """Central minimum in force that month + county top-up + long-contribution bonus."""
    minimum = policy.central_minimum_fen(month)
    central = central_part_fen(policy, month)
    county = policy.county_topup_fen(month) + long_contribution_bonus_fen(
        policy, contribution_years
    )
    return BasicPension(minimum + county, central, minimum - central, county)


def basic_pension_fen(policy: Policy, month: str, contribution_years: int) -> int:
    return basic_pension(policy, month, contribution_years).total_fen
