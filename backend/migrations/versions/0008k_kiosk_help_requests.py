"""Kiosk help requests: a resident pressed 请工作人员帮忙 (the console lists them)

Revision ID: 0008k
Revises: 0008e
Create Date: 2026-12-05 07:50:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008k"
down_revision = "0008e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_help_request",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("screen", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_kiosk_help_request_device_id", "kiosk_help_request", ["device_id"], unique=False
    )
    op.create_index(
        "ix_kiosk_help_request_created_at", "kiosk_help_request", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_kiosk_help_request_created_at", table_name="kiosk_help_request")
    op.drop_index("ix_kiosk_help_request_device_id", table_name="kiosk_help_request")
    op.drop_table("kiosk_help_request")
