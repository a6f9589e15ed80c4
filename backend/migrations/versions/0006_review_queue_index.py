"""The review queue is paged by (created_at, id): an index in that order

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 16:00:00.000000

Keyset paging reads the queue in (created_at, id) order from a cursor; with this index a
deep page costs the same as the first instead of sorting the whole backlog each time.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_case", schema=None) as batch_op:
        batch_op.create_index("ix_review_case_queue", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_case", schema=None) as batch_op:
        batch_op.drop_index("ix_review_case_queue")
