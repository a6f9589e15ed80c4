"""The migrations build exactly the schema the models describe, on both databases: a column,
index or constraint added to a model without a migration (or the reverse) fails here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import backend.models  # noqa: F401  (registers every table on SQLModel.metadata)


def _differences(url: str) -> list[object]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            diff = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    # alembic's own bookkeeping table is not a model
    return [d for d in diff if "alembic_version" not in repr(d)]


def test_the_migrated_schema_is_the_models_schema(db_url: str) -> None:
    assert _differences(db_url) == []
