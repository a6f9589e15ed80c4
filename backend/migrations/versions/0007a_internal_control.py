"""Internal control (four eyes): pending terminations, four-eyes requests, payroll approval

Revision ID: 0007a
Revises: 0006
Create Date: 2026-12-04 15:30:00.000000

- `termination`: a reported death or other pension waits for a second person (payment held);
  confirmed, rejected, or reinstated later by two people again.
- `four_eyes_request`: lifting a suspension, reversing a contribution, changing a bank account,
  each proposed by one person and confirmed by another; the rows are the history.
- `payroll_run.approved_by/approved_at`: the bank file only after a second admin approves.
- `death`: a settlement can be reversed (reinstatement), so "one per person" becomes "one in
  force per person" (a partial unique index instead of the unique constraint).
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0007a"
down_revision = "0006"
branch_labels = None
depends_on = None

OPEN = "status IN ('pending', 'confirmed', 'reinstate_pending')"
S = AutoString
# names SQLite's unnamed unique constraint on death.person_id so that batch mode can drop it
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    op.create_table(
        "termination",
        sa.Column("id", S(length=40), nullable=False),
        sa.Column("person_id", S(length=32), nullable=False),
        sa.Column("reason", S(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("source", S(length=40), nullable=False),
        sa.Column("note", S(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("review_case_id", S(length=40), nullable=True),
        sa.Column("reported_by", S(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", S(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", S(), nullable=True),
        sa.Column("death_id", S(length=40), nullable=True),
        sa.Column("reinstate_proposed_by", S(length=64), nullable=True),
        sa.Column("reinstate_note", S(), nullable=True),
        sa.Column("reinstated_by", S(length=64), nullable=True),
        sa.Column("reinstated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("termination", schema=None) as batch_op:
        batch_op.create_index("ix_termination_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_termination_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_termination_person_open",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
    op.create_table(
        "four_eyes_request",
        sa.Column("id", S(length=40), nullable=False),
        sa.Column("kind", S(length=30), nullable=False),
        sa.Column("subject_id", S(length=40), nullable=False),
        sa.Column("person_id", S(length=32), nullable=True),
        sa.Column("payload", S(), nullable=False),
        sa.Column("status", S(length=12), nullable=False),
        sa.Column("proposed_by", S(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", S(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", S(), nullable=True),
        sa.Column("result", S(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("four_eyes_request", schema=None) as batch_op:
        batch_op.create_index("ix_four_eyes_request_subject_id", ["subject_id"], unique=False)
        batch_op.create_index("ix_four_eyes_request_person_id", ["person_id"], unique=False)
        batch_op.create_index(
            "uq_four_eyes_pending_subject",
            ["kind", "subject_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
    with op.batch_alter_table("payroll_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_by", S(length=64), nullable=True))
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("death", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("termination_id", S(length=40), nullable=True))
        batch_op.add_column(sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reversal_posting_id", S(length=40), nullable=True))
    # the unique constraint is unnamed in 0002 (PostgreSQL calls it death_person_id_key; SQLite
    # reflects no name, which NAMING supplies); a downgrade gives it a name
    uniques = sa.inspect(op.get_bind()).get_unique_constraints("death")
    name = next(
        (u["name"] or "uq_death_person_id" for u in uniques if u["column_names"] == ["person_id"]),
        None,
    )
    if name is not None:
        with op.batch_alter_table(
            "death", schema=None, naming_convention=NAMING, recreate="auto"
        ) as batch_op:
            batch_op.drop_constraint(name, type_="unique")
    with op.batch_alter_table("death", schema=None) as batch_op:
        batch_op.create_index(
            "uq_death_person_in_force",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("reversed_at IS NULL"),
            postgresql_where=sa.text("reversed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("death", schema=None) as batch_op:
        batch_op.drop_index("uq_death_person_in_force")
        batch_op.create_unique_constraint("death_person_id_key", ["person_id"])
        batch_op.drop_column("reversal_posting_id")
        batch_op.drop_column("reversed_at")
        batch_op.drop_column("termination_id")
    with op.batch_alter_table("payroll_run", schema=None) as batch_op:
        batch_op.drop_column("approved_at")
        batch_op.drop_column("approved_by")
    op.drop_table("four_eyes_request")
    op.drop_table("termination")
