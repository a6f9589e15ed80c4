"""Pension bank accounts sealed at rest: award, payroll lines, four-eyes requests, history

Revision ID: 0009p
Revises: 0009m
Create Date: 2026-12-05 11:40:00.000000

Like the ID number and the phone, a pension's bank account is encrypted under the county's
data key with the person id as associated data (backend/crypto.py, services/bank_changes.py):

- `award.bank_account` becomes `award.bank_account_enc`;
- `payroll_line.bank_account` becomes `payroll_line.bank_account_enc` ('' = the card's
  account becomes NULL); every line of a person with the same account gets one ciphertext,
  as the payroll copies the award's bytes;
- `four_eyes_request` gains `account_enc`: a bank-account change's new account and a refund's
  account are sealed there, and the payload (and a confirmed change's answer) keeps them
  masked (`****1234`);
- the bank-account history in `person_change` keeps old and new accounts masked.

The key file is read only if there is anything to seal (an empty database needs no key). The
downgrade opens the award's and the lines' accounts and a request's account again; what was
masked (the history, a change's old account) stays masked.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009p"
down_revision = "0009m"
branch_labels = None
depends_on = None

award = sa.table(
    "award",
    sa.column("id", sa.String),
    sa.column("person_id", sa.String),
    sa.column("bank_account", sa.String),
    sa.column("bank_account_enc", sa.LargeBinary),
)
line = sa.table(
    "payroll_line",
    sa.column("person_id", sa.String),
    sa.column("bank_account", sa.String),
    sa.column("bank_account_enc", sa.LargeBinary),
)
request = sa.table(
    "four_eyes_request",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("person_id", sa.String),
    sa.column("subject_id", sa.String),
    sa.column("payload", sa.String),
    sa.column("result", sa.String),
    sa.column("account_enc", sa.LargeBinary),
)
change = sa.table(
    "person_change",
    sa.column("id", sa.Integer),
    sa.column("field", sa.String),
    sa.column("old_value", sa.String),
    sa.column("new_value", sa.String),
)
# the payload key that holds the full account, per request kind
ACCOUNT_KEY = {"bank_account": "new", "cancellation_refund": "bank_account"}


def _keyring():  # type: ignore[no-untyped-def]
    from backend.config import get_settings
    from backend.crypto import load_keyring

    settings = get_settings()
    return load_keyring(settings.effective_key_file, settings.master_key, create=False)


class _Ring:
    """The key file, read the first time something is to be sealed or opened."""

    def __init__(self) -> None:
        self._ring: Any = None

    def __call__(self) -> Any:
        if self._ring is None:
            self._ring = _keyring()
        return self._ring


def _mask(account: str | None) -> str | None:
    """As services (backend/idnumber.mask_account) show it: ****1234; None stays None."""
    if account is None:
        return None
    digits = account.replace(" ", "").replace("-", "")
    return f"****{digits[-4:]}" if digits else ""


def _masked_already(value: str | None) -> bool:
    return value is None or value.startswith("****")


def upgrade() -> None:
    conn = op.get_bind()
    ring = _Ring()

    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_account_enc", sa.LargeBinary(), nullable=True))
    rows = conn.execute(
        sa.select(award.c.id, award.c.person_id, award.c.bank_account).where(
            award.c.bank_account.is_not(None), award.c.bank_account != ""
        )
    ).all()
    for aid, pid, account in rows:
        conn.execute(
            award.update()
            .where(award.c.id == aid)
            .values(bank_account_enc=ring().encrypt_text(account, pid))
        )
    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.drop_column("bank_account")

    with op.batch_alter_table("payroll_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_account_enc", sa.LargeBinary(), nullable=True))
    pairs = conn.execute(
        sa.select(line.c.person_id, line.c.bank_account).where(line.c.bank_account != "").distinct()
    ).all()
    for pid, account in pairs:  # one ciphertext per person and account, one UPDATE each
        conn.execute(
            line.update()
            .where(line.c.person_id == pid, line.c.bank_account == account)
            .values(bank_account_enc=ring().encrypt_text(account, pid))
        )
    with op.batch_alter_table("payroll_line", schema=None) as batch_op:
        batch_op.drop_column("bank_account")

    with op.batch_alter_table("four_eyes_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_enc", sa.LargeBinary(), nullable=True))
    requests = conn.execute(
        sa.select(
            request.c.id,
            request.c.kind,
            request.c.person_id,
            request.c.subject_id,
            request.c.payload,
            request.c.result,
        ).where(request.c.kind.in_(list(ACCOUNT_KEY)))
    ).all()
    for rid, kind, pid, subject, payload_json, result_json in requests:
        payload = json.loads(payload_json or "{}")
        key = ACCOUNT_KEY[kind]
        full = payload.get(key)
        if _masked_already(full) and _masked_already(payload.get("old")):
            continue
        sealed = ring().encrypt_text(full, pid or subject) if full else None
        payload[key] = _mask(full)
        if "old" in payload:
            payload["old"] = _mask(payload["old"]) or None
        result = json.loads(result_json) if result_json else None
        if isinstance(result, dict):
            for k in ("old", "new", "bank_account"):
                if isinstance(result.get(k), str):
                    result[k] = _mask(result[k]) or None
        conn.execute(
            request.update()
            .where(request.c.id == rid)
            .values(
                payload=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                result=json.dumps(result, sort_keys=True, default=str, ensure_ascii=False)
                if result is not None
                else result_json,
                account_enc=sealed,
            )
        )

    history = conn.execute(
        sa.select(change.c.id, change.c.old_value, change.c.new_value).where(
            change.c.field == "bank_account"
        )
    ).all()
    for cid, old, new in history:
        if _masked_already(old) and _masked_already(new):
            continue
        conn.execute(
            change.update()
            .where(change.c.id == cid)
            .values(old_value=_mask(old) or None, new_value=_mask(new) or None)
        )


def downgrade() -> None:
    conn = op.get_bind()
    ring = _Ring()

    requests = conn.execute(
        sa.select(
            request.c.id,
            request.c.kind,
            request.c.person_id,
            request.c.subject_id,
            request.c.payload,
            request.c.account_enc,
        ).where(request.c.account_enc.is_not(None))
    ).all()
    for rid, kind, pid, subject, payload_json, sealed in requests:
        payload = json.loads(payload_json or "{}")
        if kind in ACCOUNT_KEY:
            payload[ACCOUNT_KEY[kind]] = ring().decrypt_text(bytes(sealed), pid or subject)
        conn.execute(
            request.update()
            .where(request.c.id == rid)
            .values(payload=json.dumps(payload, sort_keys=True, ensure_ascii=False))
        )
    with op.batch_alter_table("four_eyes_request", schema=None) as batch_op:
        batch_op.drop_column("account_enc")

    with op.batch_alter_table("payroll_line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bank_account", sa.String(length=40), nullable=False, server_default="")
        )
    pairs = conn.execute(
        sa.select(line.c.person_id, line.c.bank_account_enc)
        .where(line.c.bank_account_enc.is_not(None))
        .distinct()
    ).all()
    for pid, sealed in pairs:
        conn.execute(
            line.update()
            .where(line.c.person_id == pid, line.c.bank_account_enc == sealed)
            .values(bank_account=ring().decrypt_text(bytes(sealed), pid))
        )
    with op.batch_alter_table("payroll_line", schema=None) as batch_op:
        batch_op.alter_column("bank_account", server_default=None)
        batch_op.drop_column("bank_account_enc")

    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bank_account", sa.String(length=40), nullable=True))
    rows = conn.execute(
        sa.select(award.c.id, award.c.person_id, award.c.bank_account_enc).where(
            award.c.bank_account_enc.is_not(None)
        )
    ).all()
    for aid, pid, sealed in rows:
        conn.execute(
            award.update()
            .where(award.c.id == aid)
            .values(bank_account=ring().decrypt_text(bytes(sealed), pid))
        )
    with op.batch_alter_table("award", schema=None) as batch_op:
        batch_op.drop_column("bank_account_enc")
