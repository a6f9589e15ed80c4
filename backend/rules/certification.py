"""DOMAIN.md, section "Certification": how long a certification is valid, when it is due,
and the face decision's thresholds."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Literal

from backend.policy import Policy
from biometrics.thresholds import Thresholds

State = Literal["never", "overdue", "due", "certified"]


def valid_until(cycle_months: int, certified_on: date) -> date:
    """Certified 2026-03-15 -> valid through 2027-03-31 (the last day of the same month a cycle later)."""
    assert cycle_months > 0
    month_index = certified_on.month - 1 + cycle_months
    year, month = certified_on.year + month_index // 12, month_index % 12 + 1
    until = date(year, month, calendar.monthrange(year, month)[1])
    assert until > certified_on
    return until


def valid_until_for(policy: Policy, certified_on: date) -> date:
    return valid_until(policy.certification_cycle_months, certified_on)


def is_valid_on(certified_on: date, until: date, on: date) -> bool:
    """A certification counts from its date (one dated after a payroll date counts from the
    next run) through its last valid day."""
    return certified_on <= on <= until


def state(policy: Policy, until: date | None, on: date) -> State:
    """never certified; overdue (ran out before `on`); due (runs out within the policy's
    `certification.due_soon_days`); or certified. The one definition of "due": the kiosk's
    menu, the due lists, the field work list and the certification report all use it."""
    if until is None:
        return "never"
    if until < on:
        return "overdue"
    if until <= on + timedelta(days=policy.certification.due_soon_days):
        return "due"
    return "certified"


def is_due(policy: Policy, until: date | None, on: date) -> bool:
    """Should the person certify now (never, overdue or due soon)?"""
    return state(policy, until, on) != "certified"


def face_thresholds(policy: Policy) -> Thresholds:
    """The county's face-decision thresholds (`[face]` in the policy file)."""
    return Thresholds(pass_at=policy.face.pass_at, refer_at=policy.face.refer_at)
