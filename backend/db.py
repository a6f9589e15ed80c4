"""Engine, sessions and the migration gate."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from sqlite3 import Connection as SQLiteConnection

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class NotMigratedError(RuntimeError):
    pass


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            make_private_sqlite_file(Path(path))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: SQLiteConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB of page cache (the default is 2 MiB): bulk writes such as a county's
            # payroll or the demo's contributions touch index pages far beyond the default
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin_immediate(conn: Connection) -> None:
            # writers queue on the database lock instead of failing mid-transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        # let SQLAlchemy's own BEGIN be ours: pysqlite must not open transactions itself
        @sa.event.listens_for(engine, "connect")
        def _no_pysqlite_begin(dbapi_conn: SQLiteConnection, _record: ConnectionPoolEntry) -> None:
            dbapi_conn.isolation_level = None

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_private_dir(path: Path) -> None:
    """Create a folder only the service's own user can enter (0700); tighten it if it exists."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def make_private_sqlite_file(path: Path) -> None:
    """The database holds names, phones and bank accounts: it is created 0600, and a file
    left readable by others (an older install) is tightened. SQLite gives its -wal and -shm
    files the database file's own mode, so those are 0600 too."""
    if not path.parent.exists():
        make_private_dir(path.parent)  # a folder someone else made (/tmp) is left as it is
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


@lru_cache(maxsize=16)
def engine_for(url: str) -> Engine:
    return make_engine(url)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_migrated(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = (
            "has no schema" if current is None else f"is at revision {current}, code expects {head}"
        )
        raise NotMigratedError(f"database {where} {state}: run `nongbao db upgrade` first")
