"""Money out, second part: where a returned refund is re-issued (a corrected account, confirmed
by a second person), and returned money of a deceased holder settled to the heirs

Revision ID: 0009m
Revises: 0008k
Create Date: 2026-12-05 11:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009m"
down_revision = "0008k"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payee_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reissue_account_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("pending_account_enc", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("disbursement_part", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "estate_posting_id",
                sqlmodel.sql.sqltypes.AutoString(length=40),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("disbursement_part", schema=None) as batch_op:
        batch_op.drop_column("estate_posting_id")
    with op.batch_alter_table("payee_account", schema=None) as batch_op:
        batch_op.drop_column("pending_account_enc")
        batch_op.drop_column("reissue_account_enc")
