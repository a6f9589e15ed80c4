"""Signed captures: each device's Ed25519 public key and its key id

Revision ID: 0007s
Revises: 0006
Create Date: 2026-12-04 15:30:00.000000

A kiosk or field phone makes its own key pair; the admin registers the public key with the
device, and the backend refuses certifications the device did not sign.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007s"
down_revision = "0007d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("public_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_device_key_id"), ["key_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_key_id"))
        batch_op.drop_column("key_id")
        batch_op.drop_column("public_key")
