"""Review cases can terminate an entitlement: review_case.terminate_reason, effective_on

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 15:02:11.000000

Compared with `alembic.autogenerate.compare_metadata` against a fresh SQLite at 0004: two
nullable columns on review_case, nothing else. They hold what the first reviewer proposed
(death | other_pension, and the date of death or the other pension's start), so the second
reviewer confirms exactly that; existing cases simply have none.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "terminate_reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
            )
        )
        batch_op.add_column(sa.Column("effective_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_case", schema=None) as batch_op:
        batch_op.drop_column("effective_on")
        batch_op.drop_column("terminate_reason")
