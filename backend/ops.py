"""Backups and restores of the county's database and document archive, with a fingerprint
that proves every fen and every stored document came back.

* SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot
  while the backend keeps serving; restore copies the snapshot back the same way.
* PostgreSQL: `pg_dump -Fc` (custom format, compressed, one consistent snapshot) and
  `pg_restore --clean --if-exists`. pg_dump refuses to dump a server newer than itself, so the
  client's major version is checked against the server's first, with a clear message.
* The archive (DATA_DIR/archive/ab/<sha256>): its blobs are copied as they are, still sealed,
  into a folder beside the database file (`PATH.archive/`), after the database snapshot (a
  blob is on disk before its row commits, so every row of the snapshot finds its blob).

Each backup writes a manifest beside it (`PATH.manifest.json`): what the database held
(row counts, ledger totals, the balance of every kind of account) when the backup was taken,
and every blob's name, size, sha256 of its sealed bytes and the id and fingerprint of the
data key that sealed it. A restore first copies the blobs into a staging folder, checking
each against the manifest and that the target's keyring opens them; only then does it replace
the database and swap the staged folder in. Afterwards it recomputes the fingerprint and
compares: any difference is an error.
The keys are NOT in the backup: a stolen backup must not carry its key. Keep the key file
(and its own copies) apart from the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from sqlalchemy.engine import Engine, make_url

from backend.crypto import KeyError_, Keyring
from backend.db import current_revision, engine_for
from backend.services.archives import archive_root, blob_files

Progress = Callable[[int, int], None]  # (done, total)
MANIFEST_FORMAT = 2  # 2: with the archive; 1 (no "format" key): the database only
# a blob's place in the archive: ab/ab… (the folder is the name's first two hex digits)
BLOB_NAME = re.compile(r"([0-9a-f]{2})/\1[0-9a-f]{62}")  # used with fullmatch

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
    "archive_document",
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
    archive: dict[str, Any] | None = None  # blobs, bytes, folder, keys (None: not included)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Blob:
    name: str  # "ab/<sha256 of the plaintext>", relative to the archive folder
    size: int
    sha256: str  # of the sealed bytes as stored
    key: str  # id of the data key that sealed it ("" if the blob is not in a known format)


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def archive_path(path: Path) -> Path:
    """The backup's copy of the archive: a folder beside the database file."""
    return path.with_name(path.name + ".archive")


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


def backup(
    url: str,
    path: Path,
    *,
    data_dir: Path | None = None,
    keyring: Keyring | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Back up the database to `path`; with `data_dir`, its archive to `archive_path(path)`.
    `keyring` (optional: a backup host may not hold the key) names the keys' fingerprints."""
    started = time.perf_counter()
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = engine_for(url)
    before = fingerprint(engine)
    referenced = _referenced_blobs(engine) if data_dir is not None else set()
    tmp = path.with_name(path.name + ".partial")
    if engine.dialect.name == "sqlite":
        _sqlite_copy(_sqlite_file(url), tmp)
    elif engine.dialect.name == "postgresql":
        _pg_dump(url, engine, tmp)
    else:
        raise BackupError(f"no backup method for {engine.dialect.name}")
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "database": engine.dialect.name,
        "fingerprint": before,
    }
    outcome = Outcome(str(path), engine.dialect.name, 0, 0.0, before)
    if data_dir is not None:
        try:  # after the snapshot: every row in it already has its blob on disk
            blobs = _backup_archive(archive_root(data_dir), archive_path(path), progress)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        manifest["archive"] = _archive_section(blobs, keyring)
        outcome.archive = _summary(manifest["archive"], archive_path(path))
        outcome.warnings = _missing_warning(referenced - {b.name[3:] for b in blobs})
    os.replace(tmp, path)  # a backup file either is complete or does not exist
    _write_json(manifest_path(path), manifest)  # last: the manifest vouches for the rest
    outcome.bytes = path.stat().st_size
    outcome.seconds = round(time.perf_counter() - started, 2)
    return outcome


def restore(
    url: str,
    path: Path,
    *,
    data_dir: Path | None = None,
    keyring: Keyring | None = None,
    key_source: str = "the key file",
    progress: Progress | None = None,
) -> Outcome:
    """Replace the database (and with `data_dir`, its archive) with the backup at `path`.
    The archive is staged and checked first: a missing or altered blob, or a keyring that
    does not open the blobs, raises BackupError before anything in the target changes."""
    started = time.perf_counter()
    path = path.resolve()
    if not path.exists():
        raise BackupError(f"no backup at {path}")
    manifest = _read_manifest(path)
    staged, summary, warnings = _prepare_archive(
        path, manifest, data_dir, keyring, key_source, progress
    )
    engine = engine_for(url)
    try:
        engine.dispose()  # no pooled connection may hold the tables being replaced
        if engine.dialect.name == "sqlite":
            _sqlite_copy(path, _sqlite_file(url))
        elif engine.dialect.name == "postgresql":
            _pg_restore(url, path)
        else:
            raise BackupError(f"no restore method for {engine.dialect.name}")
        engine.dispose()
        if staged is not None and data_dir is not None:
            _replace_dir(staged, archive_root(data_dir))  # only once the database is back
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    after = fingerprint(engine)
    differences = compare(manifest["fingerprint"], after) if manifest else None
    return Outcome(
        str(path),
        engine.dialect.name,
        path.stat().st_size,
        round(time.perf_counter() - started, 2),
        after,
        differences == [] if differences is not None else None,
        differences,
        summary,
        warnings,
    )


def _prepare_archive(
    path: Path,
    manifest: dict[str, Any] | None,
    data_dir: Path | None,
    keyring: Keyring | None,
    key_source: str,
    progress: Progress | None,
) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """The staged, checked archive (or None), its summary and any warning."""
    if data_dir is None:
        return None, None, []
    root = archive_root(data_dir)
    section = manifest.get("archive") if manifest else None
    if section is None:  # a database-only backup (format 1) or no manifest at all
        return None, None, [f"the backup holds no archive: {root} was left as it was"]
    staged = _stage_archive(path, section, root, keyring, key_source, progress)
    summary = {**_summary(section, root), "key_check": _key_check_line(section, key_source)}
    return staged, summary, []


def _read_manifest(path: Path) -> dict[str, Any] | None:
    manifest = manifest_path(path)
    if not manifest.exists():
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(
            f"the manifest {manifest} is not readable ({exc}); nothing was changed"
        ) from None


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# --- the archive ------------------------------------------------------------------------------


def _referenced_blobs(engine: Engine) -> set[str]:
    """sha256 names of the blobs live documents need (to warn of any already missing)."""
    with engine.connect() as conn:
        if "archive_document" not in sa.inspect(conn).get_table_names():
            return set()
        return set(
            conn.execute(
                sa.text("SELECT DISTINCT sha256 FROM archive_document WHERE deleted_at IS NULL")
            ).scalars()
        )


def _missing_warning(missing: set[str]) -> list[str]:
    if not missing:
        return []
    return [
        f"{len(missing)} live document(s) have no stored file in the archive (e.g. {min(missing)[:12]}…): the backup cannot bring them back"
    ]


def _sealed_key(data: bytes) -> str:
    return Keyring.sealed_key_id(data) or ""


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _flush_to_disk() -> None:
    # one sync for the whole copy: an fsync per blob would cost minutes on a large archive
    if hasattr(os, "sync"):
        os.sync()


def _backup_archive(root: Path, target: Path, progress: Progress | None) -> list[Blob]:
    """Copy every blob, sealed as it is, into `target` (built aside, then renamed)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        blobs = _copy_blobs(root, partial, progress)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _replace_dir(partial, target)
    return blobs


def _copy_blobs(root: Path, target: Path, progress: Progress | None) -> list[Blob]:
    files = blob_files(root)
    blobs: list[Blob] = []
    for done, src in enumerate(files, 1):
        try:
            data = src.read_bytes()  # at most [archives] max_bytes plus the seal
        except FileNotFoundError:
            continue  # disposed during the copy: no live document needs it
        name = f"{src.parent.name}/{src.name}"
        _write_file(target / name, data)
        blobs.append(Blob(name, len(data), hashlib.sha256(data).hexdigest(), _sealed_key(data)))
        if progress:
            progress(done, len(files))
    _flush_to_disk()
    return blobs


def _archive_section(blobs: list[Blob], keyring: Keyring | None) -> dict[str, Any]:
    kids = sorted({b.key for b in blobs if b.key})
    return {
        "blobs": [asdict(b) for b in blobs],
        "bytes": sum(b.size for b in blobs),
        # fingerprints, not keys: they say which key file the restore needs
        "keys": {
            kid: keyring.fingerprint(kid) if keyring and kid in keyring.data_keys else None
            for kid in kids
        },
    }


def _summary(section: dict[str, Any], folder: Path) -> dict[str, Any]:
    return {
        "blobs": len(section["blobs"]),
        "bytes": section["bytes"],
        "folder": str(folder),
        "keys": section["keys"],
    }


def _manifest_blobs(section: dict[str, Any]) -> list[Blob]:
    try:
        blobs = [Blob(**b) for b in section["blobs"]]
    except (KeyError, TypeError) as exc:
        raise BackupError(
            f"the manifest's archive list is damaged ({exc}); nothing was changed"
        ) from None
    for b in blobs:
        if not BLOB_NAME.fullmatch(b.name):  # never a path that leaves the archive folder
            raise BackupError(
                f"the manifest names a blob {b.name!r} that is not an archive name; nothing was changed"
            )
    return blobs


def _stage_archive(
    path: Path,
    section: dict[str, Any],
    root: Path,
    keyring: Keyring | None,
    key_source: str,
    progress: Progress | None,
) -> Path:
    """The backup's blobs, checked against the manifest and the keyring, in a staging folder
    beside `root` (same file system: the swap is a rename). Removed again on any failure."""
    blobs = _manifest_blobs(section)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}-restore-"))
    try:
        _copy_checked(archive_path(path), blobs, staging, progress)
        _check_keys(staging, blobs, section.get("keys", {}), keyring, key_source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _copy_checked(
    source: Path, blobs: list[Blob], staging: Path, progress: Progress | None
) -> None:
    for done, blob in enumerate(blobs, 1):
        try:
            data = (source / blob.name).read_bytes()
        except FileNotFoundError:
            raise BackupError(
                f"the backup is incomplete: stored document {blob.name} is missing from {source}; nothing was changed"
            ) from None
        if len(data) != blob.size or hashlib.sha256(data).hexdigest() != blob.sha256:
            raise BackupError(
                f"the backup's copy of stored document {blob.name} was altered (its size or sha256 differs from the manifest); nothing was changed"
            )
        _write_file(staging / blob.name, data)
        if progress:
            progress(done, len(blobs))
    _flush_to_disk()


def _needed(kid: str, fingerprints: dict[str, str | None]) -> str:
    fp = fingerprints.get(kid)
    return f"data key {kid!r}" + (f" (fingerprint {fp})" if fp else "")


def _check_keys(
    staging: Path,
    blobs: list[Blob],
    fingerprints: dict[str, str | None],
    keyring: Keyring | None,
    key_source: str,
) -> None:
    """The target's keyring must open the archive: for each key id, one of its first blobs."""
    by_key: dict[str, list[Blob]] = {}
    for b in blobs:
        if b.key:
            by_key.setdefault(b.key, []).append(b)
    for kid, group in sorted(by_key.items()):
        needed = _needed(kid, fingerprints)
        if keyring is None:
            raise BackupError(
                f"the archive needs {needed}, but {key_source} does not exist: put the county's key copy there (keys are never in a backup); nothing was changed"
            )
        if kid not in keyring.data_keys:
            raise BackupError(
                f"the archive needs {needed}, which {key_source} does not hold (it holds {', '.join(sorted(keyring.data_keys))}); nothing was changed"
            )
        # a few tries: one damaged blob (copied faithfully) must not fail a good key
        if not any(_opens(keyring, staging, b) for b in group[:3]):
            raise BackupError(
                f"{key_source} does not open the archive: the archive needs {needed}, its {kid!r} has fingerprint {keyring.fingerprint(kid)}; use the key file the backup was made with; nothing was changed"
            )


def _opens(keyring: Keyring, staging: Path, blob: Blob) -> bool:
    sha = blob.name[3:]
    try:
        plain = keyring.decrypt((staging / blob.name).read_bytes(), sha.encode())
    except (InvalidTag, KeyError_, IndexError, ValueError):
        return False
    return hashlib.sha256(plain).hexdigest() == sha


def _key_check_line(section: dict[str, Any], key_source: str) -> str:
    kids = sorted(section.get("keys", {}))
    if not kids:
        return "the archive is empty: no key is needed to open it"
    needed = ", ".join(_needed(kid, section["keys"]) for kid in kids)
    return f"the archive needs {needed}; {key_source} opens it"


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder `new` at `target`: two renames (the old folder steps aside, then goes)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:12]}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
