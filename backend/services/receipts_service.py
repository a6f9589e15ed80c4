"""Issuing and checking the receipts handed to residents (paper slip or screen, with a QR code)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend import idnumber, receipts
from backend.ledger import new_id
from backend.models import Person, Receipt
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


def check(key: Ed25519PrivateKey, code: str) -> dict[str, object]:
    payload = receipts.verify(key.public_key(), code)
    if payload is None:
        return {"genuine": False}
    return {
        "genuine": True,
        "receipt_id": payload.receipt_id,
        "what": payload.what,
        "on": payload.on,
        "person": payload.person,
    }
