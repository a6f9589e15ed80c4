"""A face is a gallery: each template's source (enrolment photo or a passed certification's
best frame) with its enrolment or certification id, and the county's face calibrations

Revision ID: 0008e
Revises: 0008i
Create Date: 2026-12-05 07:40:00.000000

Existing templates become the one-photo gallery of their person (source "enrolment"): a
gallery of one keeps the single-template thresholds, so nobody has to re-enrol.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008e"
down_revision = "0008i"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("face_template", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="enrolment",
            )
        )
        batch_op.add_column(
            sa.Column("enrolment_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "certification_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_face_template_enrolment_id"), ["enrolment_id"], unique=False
        )
    op.create_table(
        "face_calibration",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("gallery_size", sa.Integer(), nullable=False),
        sa.Column("pass_at", sa.Float(), nullable=False),
        sa.Column("refer_at", sa.Float(), nullable=False),
        sa.Column("fmr_at_pass", sa.Float(), nullable=True),
        sa.Column("fnmr_at_pass", sa.Float(), nullable=True),
        sa.Column("fmr_at_refer", sa.Float(), nullable=True),
        sa.Column("fnmr_at_refer", sa.Float(), nullable=True),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("identities", sa.Integer(), nullable=False),
        sa.Column("genuine_pairs", sa.Integer(), nullable=False),
        sa.Column("impostor_pairs", sa.Integer(), nullable=False),
        sa.Column("target_fmr", sa.Float(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("face_calibration")
    with op.batch_alter_table("face_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_template_enrolment_id"))
        batch_op.drop_column("certification_id")
        batch_op.drop_column("enrolment_id")
        batch_op.drop_column("source")
