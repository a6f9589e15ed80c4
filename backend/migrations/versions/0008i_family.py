"""亲情认证: family phones, their one-time sign-in codes, a lookup hash on family contacts

Revision ID: 0008i
Revises: 0008d
Create Date: 2026-12-05 07:50:00.000000

A family member signs in on their own phone with an SMS code. The phone number is never
stored in clear: family_contact gains phone_hash (the keyring's keyed lookup hash, purpose
"family_phone"), by which a signed-in phone finds the pensioners it may certify.
family_code holds one-time codes (hashed, with an attempt count); family_phone the phone's
current signed-in device (a Device of kind "family" with the browser's public key).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008i"
down_revision = "0008d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("family_contact") as batch:
        batch.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_family_contact_phone_hash", ["phone_hash"])
    op.create_table(
        "family_code",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_family_code_phone_hash", "family_code", ["phone_hash"])
    op.create_table(
        "family_phone",
        sa.Column("phone_hash", sa.String(length=64), primary_key=True),
        sa.Column("device_id", sa.String(length=40), sa.ForeignKey("device.id"), nullable=True),
        sa.Column("signed_in_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_family_phone_device_id", "family_phone", ["device_id"])


def downgrade() -> None:
    op.drop_table("family_phone")
    op.drop_index("ix_family_code_phone_hash", table_name="family_code")
    op.drop_table("family_code")
    with op.batch_alter_table("family_contact") as batch:
        batch.drop_index("ix_family_contact_phone_hash")
        batch.drop_column("phone_hash")
