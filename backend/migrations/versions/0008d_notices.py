"""SMS notices (an outbox), family contacts; scored silent certification; grievances

Revision ID: 0008d
Revises: 0008r
Create Date: 2026-12-05 07:10:00.000000

sms_notice is the outbox: one row per event (event_key unique, so the same event is never
queued twice), the recipient's number sealed like a person's phone (associated data: the
notice id), and its delivery status. family_contact holds a pensioner's registered family
members, their phone numbers sealed (associated data: the contact id). evidence_import (one
row per imported file, its digest unique: the same file twice changes nothing),
silent_evidence (one row per trace, row_key unique) and silent_result (each person's score
and which evidence counted) are the scored silent certification. grievance: a resident's
complaint (申诉/信访) with its due date, assignee, resolution and the decision it is about.
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008d"
down_revision = "0008r"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "family_contact",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("person_id", sa.String(length=32), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("relation", sa.String(length=20), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=False),
        sa.Column("receives_notices", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_family_contact_person_id", "family_contact", ["person_id"])
    op.create_table(
        "sms_notice",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("person_id", sa.String(length=32), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False, unique=True),
        sa.Column("recipient", sa.String(length=60), nullable=False),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("message_id", sa.String(length=100), nullable=True),
        sa.Column("claimed_by", sa.String(length=60), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sms_notice_person_id", "sms_notice", ["person_id"])
    op.create_index("ix_sms_notice_status", "sms_notice", ["status"])
    op.create_index("ix_sms_notice_message_id", "sms_notice", ["message_id"])

    op.create_table(
        "evidence_import",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("new_evidence", sa.Integer(), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "silent_evidence",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("person_id", sa.String(length=32), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("row_key", sa.String(length=64), nullable=False, unique=True),
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_silent_evidence_person_id", "silent_evidence", ["person_id"])
    op.create_table(
        "silent_result",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("person_id", sa.String(length=32), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("explanation", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("certification_id", sa.String(length=40), nullable=True),
        sa.Column("review_case_id", sa.String(length=40), nullable=True),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_silent_result_person_id", "silent_result", ["person_id"])
    op.create_table(
        "grievance",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("person_id", sa.String(length=32), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("decision_kind", sa.String(length=20), nullable=True),
        sa.Column("decision_id", sa.String(length=40), nullable=True),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("source", sa.String(length=12), nullable=False),
        sa.Column("source_ref", sa.String(length=80), nullable=True),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("resolved_by", sa.String(length=80), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_grievance_person_id", "grievance", ["person_id"])
    op.create_index("ix_grievance_status", "grievance", ["status"])
    op.create_index("ix_grievance_due_on", "grievance", ["due_on"])


def downgrade() -> None:
    op.drop_table("grievance")
    op.drop_table("silent_result")
    op.drop_table("silent_evidence")
    op.drop_table("evidence_import")
    op.drop_table("sms_notice")
    op.drop_table("family_contact")
