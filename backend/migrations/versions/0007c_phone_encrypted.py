"""Phone numbers sealed at rest: person.phone becomes person.phone_enc (AES-GCM)

Revision ID: 0007c
Revises: 0006
Create Date: 2026-12-04 16:00:00.000000

Like the ID number, a phone number is encrypted under the county's data key with the person id
as associated data (backend/crypto.py), so a copied database file or backup shows no phone
number. Stored numbers are sealed in place; the key file is read only if there are any (an
empty database needs no key). The downgrade opens them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007c"
down_revision = "0007b"
branch_labels = None
depends_on = None

person = sa.table(
    "person",
    sa.column("id", sa.String),
    sa.column("phone", sa.String),
    sa.column("phone_enc", sa.LargeBinary),
)


def _keyring():  # type: ignore[no-untyped-def]
    from backend.config import get_settings
    from backend.crypto import load_keyring

    settings = get_settings()
    return load_keyring(settings.effective_key_file, settings.master_key, create=False)


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_enc", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(person.c.id, person.c.phone).where(person.c.phone.is_not(None))
    ).all()
    if rows:
        ring = _keyring()
        for pid, phone in rows:
            conn.execute(
                person.update()
                .where(person.c.id == pid)
                .values(phone_enc=ring.encrypt_text(phone, pid), phone=None)
            )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("phone")


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=30), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(person.c.id, person.c.phone_enc).where(person.c.phone_enc.is_not(None))
    ).all()
    if rows:
        ring = _keyring()
        for pid, sealed in rows:
            conn.execute(
                person.update()
                .where(person.c.id == pid)
                .values(phone=ring.decrypt_text(sealed, pid))
            )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("phone_enc")
