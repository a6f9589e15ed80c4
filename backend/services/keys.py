"""What each data key seals: the encrypted columns and the document archive, re-sealing them
under the current key, and counts per key id (an old key can be retired once it seals nothing
the database, the archive or a backup still kept needs)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from backend.crypto import HEADER_MAX, Keyring
from backend.models import (
    Award,
    Certification,
    DisbursementItem,
    FaceTemplate,
    FourEyesRequest,
    Heir,
    PayeeAccount,
    PayrollLine,
    Person,
    ReviewCase,
    TransferDocument,
)
from backend.services import archives

# (model, name in the output, sealed columns, the field whose value is the associated data)
SEALED: tuple[tuple[type[SQLModel], str, tuple[str, ...], str], ...] = (
    (Person, "person", ("id_number_enc", "old_id_number_enc", "phone_enc"), "id"),
    (FaceTemplate, "face_template", ("template_enc", "photo_enc"), "person_id"),
    (ReviewCase, "review_case", ("captured_photo_enc",), "person_id"),
    (Certification, "certification", ("captured_photo_enc",), "person_id"),
    # money out (docs/payments.md): accounts as sent, heirs, transfer documents
    (DisbursementItem, "disbursement_item", ("account_enc",), "seal_person_id"),
    (Heir, "heir", ("id_number_enc", "bank_account_enc", "pending_account_enc"), "id"),
    (TransferDocument, "transfer_document", ("document_enc",), "person_id"),
    # a returned refund's corrected account, proposed and confirmed (four eyes)
    (PayeeAccount, "payee_account", ("reissue_account_enc", "pending_account_enc"), "person_id"),
    # pension bank accounts (services/bank_changes.py): the award's, the payroll lines' copies
    # of it, and a change request's or refund request's account
    (Award, "award", ("bank_account_enc",), "person_id"),
    (PayrollLine, "payroll_line", ("bank_account_enc",), "person_id"),
    (FourEyesRequest, "four_eyes_request", ("account_enc",), "person_id"),
)
# tables whose sealed values are copies of one another's bytes (every payroll line of a person
# holds the award's ciphertext): re-sealed once per distinct value, with one UPDATE each, so a
# rotation does not load every line of every run and the lines keep sharing one ciphertext
COPIES = ("payroll_line",)


def reseal_columns(session: Session, ring: Keyring) -> dict[str, int]:
    """Re-encrypt every sealed column under the keyring's current key (same associated data);
    values already under it are skipped, so a re-run redoes only what is left."""
    counts = {name: 0 for _, name, _, _ in SEALED}
    for model, name, columns, aad_field in SEALED:
        if name in COPIES:
            counts[name] = sum(_reseal_copies(session, ring, model, c, aad_field) for c in columns)
            continue
        sealed = sa.or_(*(getattr(model, c).is_not(None) for c in columns))
        for row in session.exec(select(model).where(sealed)).all():  # not every certification
            aad = str(getattr(row, aad_field)).encode()
            for column in columns:
                blob = getattr(row, column)
                if blob and ring.key_id_of(blob) != ring.current:
                    setattr(row, column, ring.encrypt(ring.decrypt(blob, aad), aad))
                    counts[name] += 1
            session.add(row)
    return counts


def _reseal_copies(
    session: Session, ring: Keyring, model: type[SQLModel], column: str, aad_field: str
) -> int:
    value, owner = getattr(model, column), getattr(model, aad_field)
    pairs = session.execute(sa.select(owner, value).where(value.is_not(None)).distinct()).all()
    resealed = 0
    for aad, blob in pairs:
        blob = bytes(blob)
        if ring.key_id_of(blob) == ring.current:
            continue
        fresh = ring.encrypt(ring.decrypt(blob, str(aad).encode()), str(aad).encode())
        update = sa.update(model).where(owner == aad, value == blob).values({column: fresh})
        resealed += session.execute(update.execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    return resealed


def column_key_counts(session: Session) -> Counter[str | None]:
    """How many column values each data key seals (None: not a ciphertext of ours). Only the
    header of each value is fetched: photos stay in the database."""
    counts: Counter[str | None] = Counter()
    for model, _, columns, _ in SEALED:
        for column in columns:
            col = getattr(model, column)
            head = sa.func.substr(col, 1, HEADER_MAX, type_=sa.LargeBinary)
            for value in session.exec(select(head).where(col.is_not(None))):
                counts[Keyring.sealed_key_id(bytes(value))] += 1
    return counts


@dataclass
class KeyStatus:
    current: str
    keys: dict[str, dict[str, Any]]  # per key id: values, blobs, current, in_key_file
    unreadable: dict[str, int]  # values and blobs no key opens (not our format): damaged

    def as_dict(self) -> dict[str, Any]:
        return {"current": self.current, "keys": self.keys, "unreadable": self.unreadable}


def key_status(session: Session, ring: Keyring, archive_root: Path) -> KeyStatus:
    """Per data key id (the key file's in its order, then any only the data names): how many
    column values and archive blobs it still seals, and whether the key file holds it.
    Read-only: headers are read, nothing is decrypted."""
    values, blobs = column_key_counts(session), archives.blob_key_counts(archive_root)
    found = {kid for kid in (*values, *blobs) if kid is not None}
    kids = [*ring.data_keys, *sorted(found - set(ring.data_keys))]
    keys = {
        kid: {
            "values": values[kid],
            "blobs": blobs[kid],
            "current": kid == ring.current,
            "in_key_file": kid in ring.data_keys,
        }
        for kid in kids
    }
    return KeyStatus(ring.current, keys, {"values": values[None], "blobs": blobs[None]})
