"""Backups and restores of the county's database, with a fingerprint that proves every fen came back.

* SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot
  while the backend keeps serving; restore copies the snapshot back the same way.
* PostgreSQL: `pg_dump -Fc` (custom format, compressed, one consistent snapshot) and
  `pg_restore --clean --if-exists`. pg_dump refuses to dump a server newer than itself, so the
  client's major version is checked against the server's first, with a clear message.

Each backup writes a manifest beside it (`PATH.manifest.json`): what the database held
(row counts, ledger totals, the balance of every kind of account) when the backup was taken.
A restore recomputes the fingerprint and compares: any difference is an error.
The master key is NOT in the backup: keep it (and its own backup) apart from the data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from backend.db import current_revision, engine_for

COUNTED_TABLES = (
    "person",
    "contribution",
    "ledger_account",
    "ledger_posting",
    "ledger_transfer",
    "interest_run",
    "award",
    "payroll_run",
    "paid_month",
    "payroll_line",
    "death",
    "recovery_order",
    "certification",
    "review_case",
    "receipt",
    "audit_event",
    "app_user",
    "device",
)


class BackupError(RuntimeError):
    pass


@dataclass
class Outcome:
    path: str
    database: str
    bytes: int
    seconds: float
    fingerprint: dict[str, object]
    matches: bool | None = None  # restore: does the restored database match the manifest?
    differences: list[str] | None = None


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def fingerprint(engine: Engine) -> dict[str, object]:
    """Counts and fen totals that any lost or altered row would change."""
    out: dict[str, object] = {"revision": current_revision(engine)}
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for table in COUNTED_TABLES:
            if table in tables:
                out[f"rows:{table}"] = int(
                    conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                )
        if "ledger_transfer" in tables:
            out["transfers_fen"] = int(
                conn.execute(
                    sa.text("SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_transfer")
                ).scalar_one()
            )
            for kind, debits, credits in conn.execute(
                sa.text(
                    "SELECT kind, COALESCE(SUM(debits_posted), 0), COALESCE(SUM(credits_posted), 0) FROM ledger_account GROUP BY kind ORDER BY kind"
                )
            ):
                out[f"ledger:{kind}:debits_fen"], out[f"ledger:{kind}:credits_fen"] = (
                    int(debits),
                    int(credits),
                )
            for code, balance in conn.execute(
                sa.text(
                    "SELECT code, credits_posted - debits_posted FROM ledger_account WHERE kind <> 'bucket' ORDER BY code"
                )
            ):
                out[f"balance:{code}"] = int(balance)
            # every person's balance, folded into one number that any single change moves
            out["buckets_weighted_fen"] = int(
                conn.execute(
                    sa.text(
                        "SELECT COALESCE(SUM((credits_posted - debits_posted) * (id % 9973 + 1)), 0) FROM ledger_account WHERE kind = 'bucket'"
                    )
                ).scalar_one()
            )
        if "payroll_line" in tables:
            out["payroll_fen"] = int(
                conn.execute(
                    sa.text("SELECT COALESCE(SUM(total_fen), 0) FROM payroll_line")
                ).scalar_one()
            )
    return out


def compare(expected: dict[str, object], actual: dict[str, object]) -> list[str]:
    keys = sorted(set(expected) | set(actual))
    return [
        f"{k}: backup had {expected.get(k)!r}, restored has {actual.get(k)!r}"
        for k in keys
        if expected.get(k) != actual.get(k)
    ]


def backup(url: str, path: Path) -> Outcome:
    started = time.perf_counter()
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(url)
    before = fingerprint(engine)
    tmp = path.with_name(path.name + ".partial")
    if engine.dialect.name == "sqlite":
        _sqlite_copy(_sqlite_file(url), tmp)
    elif engine.dialect.name == "postgresql":
        _pg_dump(url, engine, tmp)
    else:
        raise BackupError(f"no backup method for {engine.dialect.name}")
    os.replace(tmp, path)  # a backup file either is complete or does not exist
    manifest_path(path).write_text(
        json.dumps({"database": engine.dialect.name, "fingerprint": before}, indent=1),
        encoding="utf-8",
    )
    return Outcome(
        str(path),
        engine.dialect.name,
        path.stat().st_size,
        round(time.perf_counter() - started, 2),
        before,
    )


def restore(url: str, path: Path) -> Outcome:
    started = time.perf_counter()
    path = path.resolve()
    if not path.exists():
        raise BackupError(f"no backup at {path}")
    engine = engine_for(url)
    engine.dispose()  # no pooled connection may hold the tables being replaced
    if engine.dialect.name == "sqlite":
        _sqlite_copy(path, _sqlite_file(url))
    elif engine.dialect.name == "postgresql":
        _pg_restore(url, path)
    else:
        raise BackupError(f"no restore method for {engine.dialect.name}")
    engine.dispose()
    after = fingerprint(engine)
    manifest = manifest_path(path)
    differences = (
        compare(json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"], after)
        if manifest.exists()
        else None
    )
    return Outcome(
        str(path),
        engine.dialect.name,
        path.stat().st_size,
        round(time.perf_counter() - started, 2),
        after,
        differences == [] if differences is not None else None,
        differences,
    )


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """The online backup API, page by page: readers and writers of the source carry on."""
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=4096)
        dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        dst.close()
        src.close()


# --- PostgreSQL -------------------------------------------------------------------------------


def _pg_env_args(url: str) -> tuple[dict[str, str], list[str]]:
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)  # not on the command line, where `ps` would show it
    args = [
        "-h",
        u.host or "localhost",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
        "-d",
        u.database or "postgres",
    ]
    return env, args


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore from NONGBAO_PG_BIN if set, else from PATH."""
    folder = os.environ.get("NONGBAO_PG_BIN")
    found = str(Path(folder) / name) if folder else shutil.which(name)
    if not found or not Path(found).exists():
        raise BackupError(
            f"{name} was not found: install the PostgreSQL client (Debian: postgresql-client) or set NONGBAO_PG_BIN"
        )
    return found


def _major(text: str) -> int:
    m = re.search(r"(\d+)(?:\.\d+)?", text)
    if not m:
        raise BackupError(f"cannot read a version from {text!r}")
    return int(m.group(1))


def check_pg_versions(engine: Engine) -> tuple[int, int]:
    version = subprocess.run(
        [pg_tool("pg_dump"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    client = _major(version.split("(PostgreSQL)")[-1])
    with engine.connect() as conn:
        server = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) // 10000
    if client < server:
        raise BackupError(
            f"pg_dump {client} cannot dump a PostgreSQL {server} server: install postgresql-client-{server} "
            f"(or point NONGBAO_PG_BIN at its bin folder, e.g. /usr/lib/postgresql/{server}/bin); nothing was written"
        )
    return client, server


def _pg_dump(url: str, engine: Engine, target: Path) -> None:
    check_pg_versions(engine)
    env, args = _pg_env_args(url)
    run = subprocess.run(
        [pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(target), *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        target.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {run.stderr.strip()[-500:]}")


def _pg_restore(url: str, path: Path) -> None:
    env, args = _pg_env_args(url)
    # one transaction: a restore that fails half-way leaves the database as it was
    run = subprocess.run(
        [
            pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            *args,
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise BackupError(f"pg_restore failed: {run.stderr.strip()[-500:]}")
