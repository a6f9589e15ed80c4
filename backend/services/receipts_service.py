"""Issuing and checking the receipts handed to residents (paper slip or screen, with a QR code)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, select

from backend import idnumber, receipts
from backend.ledger import new_id
from backend.models import Certification, Death, Person, Receipt
from backend.services.context import Ctx

HASH_PREFIX = 10  # hex characters of the keyed person hash: lets staff match a slip to a person


@lru_cache(maxsize=4)
def signing_key(key_dir: Path) -> Ed25519PrivateKey:
    return receipts.load_or_create_signing_key(key_dir)


def person_hash(ctx: Ctx, person_id: str) -> str:
    # keyed (HMAC with the index key): a slip does not reveal the person to outsiders
    return ctx.keyring.lookup_hash(person_id, purpose="receipt")[:HASH_PREFIX]


def issue(ctx: Ctx, key: Ed25519PrivateKey, person: Person, what: str, on: date) -> Receipt:
    receipt_id = new_id("rcp")[:24]
    payload = receipts.Payload(
        receipt_id=receipt_id,
        what=what,
        on=on.isoformat(),
        person=idnumber.mask_name(person.name),
        person_hash=person_hash(ctx, person.id),
    )
    row = Receipt(
        id=receipt_id,
        person_id=person.id,
        what=what,
        issued_on=on,
        code=receipts.sign(key, payload),
    )
    ctx.session.add(row)
    ctx.session.flush()
    return row


def check(
    key: Ed25519PrivateKey, code: str, session: Session | None = None, today: date | None = None
) -> dict[str, object]:
    """What a receipt's code says, and (given the database) where the person stands now.
    Anything that is not a genuine code is `genuine: false`, never an error."""
    payload = receipts.verify(key.public_key(), code)
    if payload is None:
        return {"genuine": False}
    body: dict[str, object] = {
        "genuine": True,
        "receipt_id": payload.receipt_id,
        "what": payload.what,
        "on": payload.on,
        "person": payload.person,
    }
    if session is not None and today is not None:
        body.update(standing(session, payload.receipt_id, code.strip(), today))
    return body


def standing(session: Session, receipt_id: str, code: str, today: date) -> dict[str, object]:
    """`status` and a human `message`: a genuine slip must not outlive its person.
    valid: the person's certification is in force; expired: it has run out;
    person_deceased: a death was recorded since; revoked: the county no longer stands behind
    the slip (no record of it, or the enrolment was cancelled)."""
    row = session.get(Receipt, receipt_id)
    person = session.get(Person, row.person_id) if row and row.person_id else None
    if row is None or row.code != code or person is None:
        return _says("revoked", "genuine signature, but the county has no record of this receipt")
    if person.status == "cancelled":
        return _says("revoked", "genuine; the enrolment was cancelled since")
    death = session.exec(select(Death).where(Death.person_id == person.id)).first()
    if death is not None and death.reason == "death":
        return _says(
            "person_deceased",
            f"genuine; the person has since died ({death.date_of_death.isoformat()})",
        )
    cert = session.exec(
        select(Certification)
        .where(
            Certification.person_id == person.id,
            Certification.outcome == "passed",
            Certification.certified_on <= today,
        )
        .order_by(Certification.certified_on.desc())  # type: ignore[attr-defined]
    ).first()
    until = cert.valid_until if cert is not None else None
    if until is not None and until >= today:
        return _says("valid", f"genuine; certification valid until {until.isoformat()}", until)
    if until is not None:
        return _says("expired", f"genuine; the certification expired on {until.isoformat()}", until)
    return _says("expired", "genuine; no certification is in force now")


def _says(status: str, message: str, valid_until: date | None = None) -> dict[str, object]:
    out: dict[str, object] = {"status": status, "message": message}
    if valid_until is not None:
        out["valid_until"] = valid_until.isoformat()
    return out
