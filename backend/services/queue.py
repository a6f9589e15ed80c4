"""What the review console adds to the plain queue and due lists: village names instead of
codes, a priority that orders the queue, and the overdue list a county officer works from.

The priority is a sum of points, so a reviewer can see why one case is above another; the
points are the county's policy (`[review_priority]` in the policy file, ReviewPriorityPolicy):
- the most serious reason on the case (a stranger at the pensioner's door or a reported
  death first, an unsure face comparison last);
- the person's age (points per 5 years over 60, capped): the oldest are the likeliest
  to have died, and the least able to come to a counter;
- how long their certification has been overdue (points per 30 days, capped): the
  longer, the closer to suspension (DOMAIN.md "Certification");
- how long the case has waited (a point a day, capped), so nothing starves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select

from backend import idnumber
from backend.models import Certification, Person, Village
from backend.policy.model import ReviewPriorityPolicy
from backend.services import registry
from backend.services.certification import PENSIONER_STATUSES
from backend.services.certification_status import latest_valid
from backend.services.context import Ctx


@dataclass(frozen=True)
class Priority:
    points: int
    level: str  # high | medium | low

    @classmethod
    def of(
        cls,
        reasons: Iterable[str],
        age: int,
        overdue_days: int,
        waited_days: int,
        policy: ReviewPriorityPolicy,
    ) -> Priority:
        codes = [r.partition(":")[0] for r in reasons]
        reason = max((policy.reasons.get(c, policy.other_reason) for c in codes), default=0)
        points = (
            reason
            + min(max(age - policy.age_from, 0) // 5 * policy.age_points, policy.age_cap)
            + min(max(overdue_days, 0) // 30 * policy.overdue_points, policy.overdue_cap)
            + min(max(waited_days, 0), policy.wait_cap)
        )
        level = (
            "high"
            if points >= policy.high_at
            else "medium"
            if points >= policy.medium_at
            else "low"
        )
        return cls(points, level)


def village_names(ctx: Ctx, codes: Iterable[str]) -> dict[str, str]:
    """Code -> name for the villages asked for (unknown codes map to themselves)."""
    wanted = sorted(set(codes))
    found = ctx.session.exec(select(Village).where(col(Village.code).in_(wanted))).all()
    names = {v.code: v.name for v in found}
    return {c: names.get(c, c) for c in wanted}


def overdue_days(ctx: Ctx, person_id: str) -> int | None:
    """Days since the certification ran out (None: not overdue, or never certified)."""
    valid = latest_valid(ctx, person_id, ctx.today)
    if valid is None or valid.valid_until is None or valid.valid_until >= ctx.today:
        return None
    return (ctx.today - valid.valid_until).days


def prioritised(ctx: Ctx, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The queue's rows with village_name, overdue_days and priority, highest first (then
    oldest first, as the plain queue)."""
    names = village_names(ctx, (str(r["village_code"]) for r in rows))
    priority = ctx.policy.review_priority
    out = []
    for row in rows:
        late = overdue_days(ctx, str(row["person_id"]))
        created = datetime.fromisoformat(str(row["created_at"])).date()
        reasons = row["reasons"] if isinstance(row["reasons"], list) else []
        age = row["age"] if isinstance(row["age"], int) else 0
        waited = (ctx.today - created).days
        p = Priority.of([str(r) for r in reasons], age, late or 0, waited, priority)
        out.append(
            {
                **row,
                "village_name": names[str(row["village_code"])],
                "overdue_days": late,
                "priority": p.points,
                "priority_level": p.level,
            }
        )
    out.sort(key=lambda r: (-int(str(r["priority"])), str(r["created_at"])))
    return out


def overdue_list(ctx: Ctx, village_code: str | None = None) -> dict[str, list[dict[str, object]]]:
    """Due and overdue pensioners for the console: the name masked, the village by name,
    days overdue, how they were last certified, and whether there is a phone to call.
    Overdue ones longest-overdue first (the never-certified at the top)."""
    query = select(Person).where(col(Person.status).in_(PENSIONER_STATUSES))
    if village_code:
        query = query.where(Person.village_code == village_code)
    people = ctx.session.exec(query).all()
    names = village_names(ctx, (p.village_code for p in people))
    due: list[dict[str, object]] = []
    overdue: list[dict[str, object]] = []
    for p in people:
        valid = latest_valid(ctx, p.id, ctx.today)
        until = valid.valid_until if valid else None
        if until is not None and until > ctx.today + timedelta(
            days=ctx.policy.certification.due_soon_days
        ):
            continue
        row = _overdue_row(ctx, p, valid, until, names[p.village_code])
        (overdue if until is None or until < ctx.today else due).append(row)
    overdue.sort(key=lambda r: (r["days_overdue"] is not None, -_int(r["days_overdue"])))
    due.sort(key=lambda r: (str(r["valid_until"]), str(r["village_name"])))
    return {"due": due, "overdue": overdue}


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _overdue_row(
    ctx: Ctx, p: Person, valid: Certification | None, until: date | None, village: str
) -> dict[str, object]:
    phone = registry.phone_of(ctx, p)
    return {
        "person_id": p.id,
        "name_masked": idnumber.mask_name(p.name),
        "village_code": p.village_code,
        "village_name": village,
        "age": idnumber.age_on(p.birth_date, ctx.today),
        "homebound": p.homebound,
        "valid_until": until.isoformat() if until else None,
        "days_overdue": (ctx.today - until).days if until and until < ctx.today else None,
        "last_channel": valid.channel if valid else None,
        "last_certified_on": valid.certified_on.isoformat() if valid else None,
        "phone": registry.mask_phone(phone),
    }
