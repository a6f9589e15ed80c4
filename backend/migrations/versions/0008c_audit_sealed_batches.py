"""Audit events sealed in signed batches: a leaf hash at append, a sequence and batch at sealing

Revision ID: 0008c
Revises: 0007s
Create Date: 2026-12-05 07:30:00.000000

Appends no longer take a lock for the whole chain: each event stores its own RFC 6962 leaf
hash, and the sealer (backend/services/audit.py) numbers, chains and signs them in batches.
The events already there keep their prev_hash/hash chain; their leaf hashes are computed here,
and the first seal (`nongbao audit seal`, or `nongbao serve` at start) seals that chain as
the first batch.
"""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008c"
down_revision = "0007s"
branch_labels = None
depends_on = None


def _when(at: datetime | str) -> str:
    if isinstance(at, str):  # SQLite hands back text
        at = datetime.fromisoformat(at)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _leaf(row: sa.Row) -> str:
    # the same canonical form as backend/services/audit.py (a migration keeps its own copy)
    body = {
        "id": row.id,
        "at": _when(row.at),
        "actor": row.actor,
        "role": row.role,
        "device_id": row.device_id,
        "action": row.action,
        "subject": row.subject,
        "before": row.before_digest,
        "after": row.after_digest,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"\x00" + text.encode()).hexdigest()


def upgrade() -> None:
    op.create_table(
        "audit_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("root", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prev_head", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("head_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("head", sa.Text(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "leaf_hash",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_event_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_seq"), ["seq"], unique=True)
    conn = op.get_bind()
    table = sa.table(
        "audit_event",
        *(
            sa.column(c)
            for c in (
                "id",
                "at",
                "actor",
                "role",
                "device_id",
                "action",
                "subject",
                "before_digest",
                "after_digest",
                "leaf_hash",
            )
        ),
    )
    rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    for row in rows:
        conn.execute(sa.update(table).where(table.c.id == row.id).values(leaf_hash=_leaf(row)))


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_seq"))
        batch_op.drop_index(batch_op.f("ix_audit_event_batch_id"))
        batch_op.drop_column("batch_id")
        batch_op.drop_column("seq")
        batch_op.drop_column("leaf_hash")
    op.drop_table("audit_batch")
