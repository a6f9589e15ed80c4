"""A failed field face check keeps its captured photo, sealed, for the review case

Revision ID: 0008f
Revises: 0008c
Create Date: 2026-12-05 07:15:00.000000

At a kiosk the day's last failure opens the review case with the photo at once; a field
failure is referred a moment later by the app (the worker's `refer_failed` visit), when the
photo is gone from the request. The certification keeps it (encrypted under the person's
id like every face photo) so the reviewer sees who stood at the door.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008f"
down_revision = "0008c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("captured_photo_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certification", schema=None) as batch_op:
        batch_op.drop_column("captured_photo_enc")
