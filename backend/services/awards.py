"""The award at 60: eligibility by group, the account pension fixed for life, the basic pension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import col, select

from backend import idnumber, ledger, months
from backend.errors import Conflict, RuleRefused, field_error
from backend.models import Award, Contribution, LedgerAccount, LedgerTransfer, Person
from backend.policy import Policy
from backend.rules import award as rule
from backend.rules import contributions as contribution_rule
from backend.rules import suspension as suspension_rule
from backend.services import bank_changes, certification_status, registry
from backend.services.context import Ctx

REQUIRED_YEARS = rule.REQUIRED_YEARS


@dataclass
class Eligibility:
    group: str  # already_60 | near | young
    contribution_years: int  # the years that count (capped at 15 for the near group)


def basic_pension_fen(policy: Policy, month: str, contribution_years: int) -> int:
    """Central minimum in force that month + county top-up + long-contribution bonus."""
    return rule.basic_pension_fen(policy, month, contribution_years)


def birthday(born: date, age: int) -> date:
    """The day a person reaches `age` (a 29 February birthday counts from 1 March)."""
    return rule.birthday(born, age)


def first_month(policy: Policy, person: Person) -> str:
    """The month after the month of the 60th birthday, or after enrolment for those already 60."""
    return rule.first_month(policy, person.birth_date, person.enrolled_on)


def paid_years(ctx: Ctx, person_id: str) -> list[int]:
    return sorted(
        set(
            ctx.session.exec(
                select(Contribution.year).where(
                    Contribution.person_id == person_id, col(Contribution.reversed_at).is_(None)
                )
            ).all()
        )
    )


def eligibility(ctx: Ctx, person: Person, awarded_on: date) -> Eligibility:
    policy = ctx.policy
    group = rule.group(policy, person.birth_date)
    years = paid_years(ctx, person.id)
    if group == "already_60":
        _check_family_binding(ctx, person, awarded_on.year)
        return Eligibility(group, len(years))
    last_year = contribution_rule.last_contribution_year(policy, person.birth_date)
    if group == "near":
        missing = [y for y in rule.required_years(policy, person.birth_date) if y not in years]
        if missing:
            raise RuleRefused(
                f"{len(missing)} contribution {'year' if len(missing) == 1 else 'years'} missing: "
                f"{', '.join(map(str, missing))}; they may be back-paid before the award"
            )
        return Eligibility(group, rule.counted_years(group, len(years)))
    if len(years) < REQUIRED_YEARS:
        short = REQUIRED_YEARS - len(years)
        open_years = [
            y
            for y in range(max(policy.scheme_start.year, person.enrolled_on.year), last_year + 1)
            if y not in years
        ]
        raise RuleRefused(
            f"{len(years)} contribution years; {short} more needed for the award "
            f"(years without a contribution that may be back-paid: {', '.join(map(str, open_years)) or 'none'})"
        )
    return Eligibility(group, rule.counted_years(group, len(years)))


def _check_family_binding(ctx: Ctx, person: Person, year: int) -> None:
    """Already 60 at the scheme start: every child who must enrol has paid for the year."""
    unpaid = children_not_paid(ctx, person.id, year)
    if unpaid:
        names = ", ".join(f"{c.name} ({c.id})" for c in unpaid)
        raise RuleRefused(
            f"family binding: these children have not paid for {year}: {names}; the award waits until they pay"
        )


def children_not_paid(ctx: Ctx, parent_id: str, year: int) -> list[Person]:
    children = ctx.session.exec(
        select(Person).where(col(Person.id).in_(registry.children_of(ctx, parent_id)))
    ).all()
    must_pay = [
        c
        for c in children
        if c.status == "enrolled" and suspension_rule.child_must_pay(ctx.policy, c.birth_date, year)
    ]
    paid = (
        set(
            ctx.session.exec(
                select(Contribution.person_id).where(
                    col(Contribution.person_id).in_([c.id for c in must_pay]),
                    Contribution.year == year,
                    col(Contribution.reversed_at).is_(None),
                )
            ).all()
        )
        if must_pay
        else set()
    )
    return [c for c in must_pay if c.id not in paid]


def buckets_on(ctx: Ctx, person_id: str, on: date) -> dict[str, int]:
    """Bucket balances from the transfers dated on or before `on`."""
    t, a = LedgerTransfer.__table__.c, LedgerAccount.__table__.c
    out = dict.fromkeys(("personal", "collective", "other", "government"), 0)
    for bucket, credits, debits in ctx.session.execute(
        sa.select(
            a.bucket,
            sa.func.coalesce(
                sa.select(sa.func.sum(t.amount_fen))
                .where(t.credit_account_id == a.id, t.on <= on)
                .scalar_subquery(),
                0,
            ),
            sa.func.coalesce(
                sa.select(sa.func.sum(t.amount_fen))
                .where(t.debit_account_id == a.id, t.on <= on)
                .scalar_subquery(),
                0,
            ),
        ).where(a.person_id == person_id)
    ):
        out[bucket] = int(credits) - int(debits)
    return out


def award(ctx: Ctx, person_id: str, awarded_on: date, bank_account: str | None = None) -> Award:
    person = registry.lock(ctx, person_id)
    if awarded_on > ctx.today:
        raise field_error("awarded_on", "the award date is in the future")
    if person.status in ("receiving", "suspended"):
        raise Conflict("this person already has an award")
    if person.status != "enrolled":
        raise RuleRefused(f"no award: the person is {person.status}")
    age = idnumber.age_on(person.birth_date, awarded_on)
    if age < ctx.policy.pension_age:
        turns = birthday(person.birth_date, ctx.policy.pension_age)
        raise RuleRefused(
            f"the person is {age} on {awarded_on.isoformat()}; the pension age {ctx.policy.pension_age} is reached on {turns.isoformat()}"
        )
    elig = eligibility(ctx, person, awarded_on)
    buckets = buckets_on(ctx, person_id, awarded_on)
    total = sum(buckets.values())
    pension = rule.account_pension_fen(ctx.policy, total)
    government_part = rule.government_part_fen(pension, buckets["government"], total)
    record = Award(
        id=ledger.new_id("awd")[:40],
        person_id=person_id,
        awarded_on=awarded_on,
        first_month=(start := first_month(ctx.policy, person)),
        settled_through=months.add(start, -1),
        eligibility_group=elig.group,
        family_binding=elig.group == "already_60",
        contribution_years=elig.contribution_years,
        account_pension_fen=pension,
        account_total_at_award_fen=total,
        government_at_award_fen=buckets["government"],
        government_part_fen=government_part,
        bank_account_enc=bank_changes.seal(ctx.keyring, person_id, bank_account),
        created_by=ctx.actor.label,
    )
    ctx.session.add(record)
    person.status = "receiving"
    ctx.session.add(person)
    ctx.session.flush()
    # the award counts as a certification on the award date: the person has just been seen
    certification_status.record_passed(
        ctx, person_id, "award", awarded_on, evidence=f"award {record.id}"
    )
    return record


def live_award(ctx: Ctx, person_id: str) -> Award | None:
    return ctx.session.exec(
        select(Award).where(Award.person_id == person_id, col(Award.revoked_at).is_(None))
    ).first()


@dataclass(frozen=True)
class AwardGranted:
    """An award and the basic pension its answer quotes, for `quoted_month`."""

    award: Award
    quoted_month: str
    basic_pension_fen: int


def quoted_month(a: Award, awarded_on: date) -> str:
    """The month whose basic pension the award quotes: its first month paid, or the month it
    was granted in when that is later (the first months are arrears at older amounts)."""
    return max(a.first_month, f"{awarded_on:%Y-%m}")


def grant(
    ctx: Ctx, person_id: str, awarded_on: date, bank_account: str | None = None
) -> AwardGranted:
    """`award`, with the basic pension of the month it quotes."""
    a = award(ctx, person_id, awarded_on, bank_account)
    month = quoted_month(a, awarded_on)
    return AwardGranted(a, month, basic_pension_fen(ctx.policy, month, a.contribution_years))
