"""Login attempts and rate hits in the database (shared by every worker); ended kiosk sessions

Revision ID: 0007d
Revises: 0006
Create Date: 2026-12-04 15:30:00.000000

Sign-in limits, the per-account lockout and the per-device request limits were counted in
each worker's memory: N workers allowed N times the limit, and parallel attempts were all
checked. A kiosk resident session could not be ended before it expired.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007d"
down_revision = "0007c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_login_attempt_username_started", "login_attempt", ["username", "started_at"]
    )
    op.create_index("ix_login_attempt_client_started", "login_attempt", ["client", "started_at"])
    op.create_index("ix_login_attempt_started_at", "login_attempt", ["started_at"])
    op.create_table(
        "rate_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rate_hit_bucket_subject_at", "rate_hit", ["bucket", "subject", "at"])
    op.create_index("ix_rate_hit_at", "rate_hit", ["at"])
    op.create_table(
        "ended_kiosk_session",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_ended_kiosk_session_expires_at", "ended_kiosk_session", ["expires_at"])


def downgrade() -> None:
    op.drop_table("ended_kiosk_session")
    op.drop_table("rate_hit")
    op.drop_table("login_attempt")
