"""Bank-account changes two people confirmed (services/four_eyes), applied to the award.

Its own module below four_eyes, so that the payroll applies the changes due by its date
without importing four_eyes (which imports suspensions, which the payroll's rules feed).
"""

from __future__ import annotations

import json
from datetime import date

from sqlmodel import Session, select

from backend.models import Award, FourEyesRequest, PersonChange, utcnow
from backend.services.context import Actor


def set_bank_account(session: Session, row: FourEyesRequest, actor: Actor) -> None:
    payload = json.loads(row.payload)
    award = session.exec(
        select(Award).where(Award.person_id == row.person_id, Award.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    if award is None:  # the award was revoked meanwhile: nothing to pay into
        return
    old = award.bank_account
    award.bank_account = payload["new"]
    session.add(award)
    session.add(
        PersonChange(
            person_id=row.person_id or "",
            field="bank_account",
            old_value=old,
            new_value=payload["new"],
            reason=f"{payload['reason']} (request {row.id}, proposed by {row.proposed_by}, confirmed by {row.decided_by or actor.label})"[
                :1000
            ],
            changed_by=actor.label,
        )
    )
    row.applied_at = utcnow()
    session.add(row)


def apply_due_bank_changes(session: Session, on: date, actor: Actor) -> int:
    """Confirmed changes whose effective date has come: applied before a payroll pays."""
    due = [
        r
        for r in session.exec(
            select(FourEyesRequest).where(
                FourEyesRequest.kind == "bank_account",
                FourEyesRequest.status == "confirmed",
                FourEyesRequest.applied_at.is_(None),  # type: ignore[union-attr]
            )
        ).all()
        if json.loads(r.payload)["effective_on"] <= on.isoformat()
    ]
    for r in sorted(due, key=lambda r: r.decided_at or r.proposed_at):
        set_bank_account(session, r, actor)
    return len(due)
