"""Village location (latitude, longitude) for the certification location check

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 13:11:58.290301

Generated with `alembic revision --autogenerate` against a fresh SQLite at 0002, then
reviewed: two nullable columns, nothing else (existing villages simply have no location).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("longitude", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_column("longitude")
        batch_op.drop_column("latitude")
