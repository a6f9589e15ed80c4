"""Bank accounts at rest, and the bank-account changes two people confirmed (services/four_eyes),
applied to the award.

A pension's bank account is sealed (AES-GCM, backend/crypto.py) with the person id as
associated data, everywhere it is stored: the award, the payroll lines (the payroll copies the
award's bytes as they are, set-based), and a change request (`FourEyesRequest.account_enc`),
whose bytes the award takes as they are when the change applies. Only the bank file, a
re-issue and a refund open them; every other output shows the account masked (`****1234`).

Its own module below four_eyes, so that the payroll applies the changes due by its date
without importing four_eyes (which imports suspensions, which the payroll's rules feed), and
without a key: a change moves sealed bytes only.
"""

from __future__ import annotations

import json
from datetime import date

from sqlmodel import Session, col, select

from backend.crypto import Keyring
from backend.models import Award, FourEyesRequest, PersonChange, utcnow
from backend.services.context import Actor


def seal(ring: Keyring, person_id: str, account: str | None) -> bytes | None:
    """A bank account sealed for the person (None: none given, the card's account)."""
    return ring.encrypt_text(account, person_id) if account else None


def opened(ring: Keyring, person_id: str, sealed: bytes | None) -> str:
    """The account in full ('' when none: the social security card's financial account)."""
    return ring.decrypt_text(bytes(sealed), person_id) if sealed else ""


def set_bank_account(session: Session, row: FourEyesRequest, actor: Actor) -> None:
    payload = json.loads(row.payload)
    award = session.exec(
        select(Award).where(Award.person_id == row.person_id, col(Award.revoked_at).is_(None))
    ).first()
    if award is None:  # the award was revoked meanwhile: nothing to pay into
        return
    old = _current_masked(session, row)
    award.bank_account_enc = row.account_enc  # sealed for the same person: the same bytes
    session.add(award)
    session.add(
        PersonChange(
            person_id=row.person_id or "",
            field="bank_account",
            old_value=old,
            new_value=payload["new"],  # masked, as every history shows it
            reason=f"{payload['reason']} (request {row.id}, proposed by {row.proposed_by}, confirmed by {row.decided_by or actor.label})"[
                :1000
            ],
            changed_by=actor.label,
        )
    )
    row.applied_at = utcnow()
    session.add(row)


def _current_masked(session: Session, row: FourEyesRequest) -> str | None:
    """The award's account as it stands, masked, read without a key: every change after the
    award goes through a request, so it is the last applied change's new account, or, if none
    applied yet, the award's own account as the request saw it when proposed."""
    applied = session.exec(
        select(FourEyesRequest.payload)
        .where(
            FourEyesRequest.kind == "bank_account",
            FourEyesRequest.person_id == row.person_id,
            col(FourEyesRequest.applied_at).is_not(None),
        )
        .order_by(col(FourEyesRequest.applied_at).desc())
    ).all()
    # a refund's re-issue account (target "refund") is not the pension's
    last = next((p for p in map(json.loads, applied) if p.get("target") != "refund"), None)
    old = last["new"] if last else json.loads(row.payload)["old"]
    return str(old) if old else None


def apply_due_bank_changes(session: Session, on: date, actor: Actor) -> int:
    """Confirmed changes whose effective date has come: applied before a payroll pays."""
    due = [
        r
        for r in session.exec(
            select(FourEyesRequest).where(
                FourEyesRequest.kind == "bank_account",
                FourEyesRequest.status == "confirmed",
                col(FourEyesRequest.applied_at).is_(None),
            )
        ).all()
        if json.loads(r.payload)["effective_on"] <= on.isoformat()
    ]
    for r in sorted(due, key=lambda r: r.decided_at or r.proposed_at):
        set_bank_account(session, r, actor)
    return len(due)
