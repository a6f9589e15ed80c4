"""Backup, damage, restore: every row, every fen and every archived document comes back, on
SQLite and PostgreSQL; a damaged backup or the wrong key is refused before anything changes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from backend import ops
from backend.crypto import Keyring, load_keyring, save_keyring
from backend.db import engine_for
from tests.backend.conftest import Api, valid_id
from tests.backend.test_archives import PDF, png_bytes, upload
from tests.conftest import TODAY, _pg_admin, _with_db, pg_base_url
from tests.live import ROOT, server_env
from tests.reports.county import build


def balances(api: Api, people: dict[str, str]) -> dict[str, dict]:
    return {
        pid: api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["buckets"]
        for pid in people.values()
    }


def test_backup_then_restore_brings_back_every_fen(api: Api, db_url: str, tmp_path: Path) -> None:
    c = build(api)
    before = balances(api, c.people)
    fund_before = api.get("/api/v1/reports/fund/2026").json()["summary"]
    taken = ops.backup(db_url, tmp_path / "county.backup")
    assert Path(taken.path).stat().st_size > 10_000
    assert (
        json.loads(ops.manifest_path(Path(taken.path)).read_text())["fingerprint"]
        == taken.fingerprint
    )
    fingerprint: dict[str, Any] = taken.fingerprint
    assert fingerprint["rows:ledger_transfer"] > 100 and fingerprint["transfers_fen"] > 0
    # life goes on after the backup: an enrolment and a payment the restore must take away
    newcomer = api.enrol(
        valid_id("510105", "19900101", "031"), name="赵六", enrolled_on="2026-01-05"
    )
    assert api.pay(newcomer, 2026, 20000, "2026-09-01").status_code == 201
    assert ops.fingerprint(engine_for(db_url)) != taken.fingerprint
    back = ops.restore(db_url, Path(taken.path))
    assert back.matches is True and back.differences == []
    assert back.fingerprint == taken.fingerprint
    assert balances(api, c.people) == before
    assert api.get("/api/v1/reports/fund/2026").json()["summary"] == fund_before
    assert api.get("/api/v1/ledger/check").json()["ok"] is True
    assert api.get(f"/api/v1/persons/{newcomer}", "clerk").status_code == 404


def test_restore_reports_a_backup_that_does_not_match_its_manifest(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    api.enrol(valid_id("510105", "19800101", "001"))
    taken = ops.backup(db_url, tmp_path / "b.backup")
    manifest = ops.manifest_path(Path(taken.path))
    data = json.loads(manifest.read_text())
    data["fingerprint"]["rows:person"] += 1  # as if a row had been lost
    manifest.write_text(json.dumps(data))
    back = ops.restore(db_url, Path(taken.path))
    persons: Any = taken.fingerprint["rows:person"]
    assert back.matches is False and back.differences == [
        f"rows:person: backup had {persons + 1}, restored has {persons}"
    ]


def test_pg_dump_older_than_the_server_is_refused_clearly(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.9'\n")
    (fake / "pg_dump").chmod(0o755)
    monkeypatch.setenv("NONGBAO_PG_BIN", str(fake))
    with pytest.raises(
        ops.BackupError,
        match=r"pg_dump 13 cannot dump a PostgreSQL 15 server: install postgresql-client-15",
    ):
        ops.backup(pg_url, tmp_path / "x.backup")
    assert not (tmp_path / "x.backup").exists()


def test_cli_backup_and_restore(sqlite_url: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NONGBAO_")},
        "NONGBAO_DATABASE_URL": sqlite_url,
        "NONGBAO_DATA_DIR": str(tmp_path / "data"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "nongbao", "backup", str(tmp_path / "b.db"), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["database"] == "sqlite"
    back = subprocess.run(
        [sys.executable, "-m", "nongbao", "restore", str(tmp_path / "b.db"), "--yes", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["matches"] is True
    refused = subprocess.run(
        [sys.executable, "-m", "nongbao", "restore", str(tmp_path / "b.db")],
        cwd=ROOT,
        env=env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1 and "restore cancelled" in refused.stderr


# --- the document archive ---------------------------------------------------------------------


def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # as tests.backend.conftest.make_settings


def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "master.key"


def ring(tmp_path: Path) -> Keyring:
    return load_keyring(key_file(tmp_path), create=False)


def stored(data: Path) -> dict[str, bytes]:
    """Every file under a data dir's archive, by its relative name."""
    root = data / "archive"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def archived(api: Api, seq: str = "001") -> dict[str, bytes]:
    """A person with two documents filed; their ids and plaintexts."""
    pid = api.enrol(valid_id("110101", "19500101", seq))
    docs = {}
    for data, content_type, name in (
        (PDF + seq.encode(), "application/pdf", "form.pdf"),  # new content for each person
        (png_bytes(), "image/png", "evidence.png"),
    ):
        r = upload(api, pid, data, filename=name, content_type=content_type)
        assert r.status_code == 201, r.text
        docs[r.json()["document_id"]] = data
    return docs


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind, for a restore onto another machine."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh' / 'nongbao.sqlite3'}"
        return
    name = f"nongbao_fresh_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin(pg_base_url())
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _with_db(pg_base_url(), name)
    yield url
    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_backup_carries_the_archive_and_a_fresh_system_reads_every_document_back(
    api: Api, db_url: str, fresh_url: str, tmp_path: Path
) -> None:
    from backend.app import create_app
    from backend.config import Settings

    docs = archived(api)
    path = tmp_path / "backups" / "county.backup"
    taken = ops.backup(db_url, path, data_dir=data_dir(tmp_path), keyring=ring(tmp_path))
    live = stored(data_dir(tmp_path))
    assert len(live) == 2 and taken.archive is not None and taken.warnings == []
    assert taken.archive["blobs"] == 2 and taken.archive["folder"] == str(ops.archive_path(path))
    manifest = json.loads(ops.manifest_path(path).read_text())
    assert manifest["format"] == 2 and manifest["fingerprint"]["rows:archive_document"] == 2
    fp = ring(tmp_path).fingerprint("k1")
    assert manifest["archive"]["keys"] == {"k1": fp}
    assert {b["name"]: b["size"] for b in manifest["archive"]["blobs"]} == {
        name: len(data) for name, data in live.items()
    }
    # the ciphertext is copied as it is, and no key travels with the backup
    copied = ops.archive_path(path)
    assert {
        p.relative_to(copied).as_posix(): p.read_bytes() for p in copied.rglob("*") if p.is_file()
    } == live
    every_file = b"".join(f.read_bytes() for f in path.parent.rglob("*") if f.is_file())
    for key in ring(tmp_path).data_keys.values():
        assert base64.b64encode(key) not in every_file and key not in every_file

    fresh = tmp_path / "fresh" / "data"
    back = ops.restore(
        fresh_url, path, data_dir=fresh, keyring=ring(tmp_path), key_source="the key copy"
    )
    assert back.matches is True and back.archive is not None and back.warnings == []
    assert back.archive["key_check"] == (
        f"the archive needs data key 'k1' (fingerprint {fp}); the key copy opens it"
    )
    assert stored(fresh) == live
    assert sorted(p.name for p in fresh.iterdir()) == ["archive"]  # no staging folder left

    settings = Settings(database_url=fresh_url, data_dir=fresh, key_file=key_file(tmp_path))
    with TestClient(create_app(settings, today=lambda: TODAY)) as client:
        elsewhere = Api(client)
        for doc_id, data in docs.items():
            got = elsewhere.get(f"/api/v1/documents/{doc_id}/content", "clerk")
            assert got.status_code == 200, got.text
            assert got.content == data


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_damaged_blob_in_the_backup_is_refused_and_nothing_changes(
    api: Api, db_url: str, tmp_path: Path, damage: str
) -> None:
    archived(api)
    path = tmp_path / "b.backup"
    ops.backup(db_url, path, data_dir=data_dir(tmp_path), keyring=ring(tmp_path))
    archived(api, seq="002")  # the live system moves on: a restore would take this away
    blob = sorted(p for p in ops.archive_path(path).rglob("*") if p.is_file())[0]
    if damage == "altered":
        sealed = bytearray(blob.read_bytes())
        sealed[-1] ^= 1
        blob.write_bytes(bytes(sealed))
    else:
        blob.unlink()
    before_db = ops.fingerprint(engine_for(db_url))
    before_files = stored(data_dir(tmp_path))
    before_entries = sorted(p.name for p in data_dir(tmp_path).iterdir())
    with pytest.raises(ops.BackupError, match=rf"{blob.parent.name}/{blob.name} .*{damage}"):
        ops.restore(db_url, path, data_dir=data_dir(tmp_path), keyring=ring(tmp_path))
    assert ops.fingerprint(engine_for(db_url)) == before_db
    assert stored(data_dir(tmp_path)) == before_files and len(before_files) == 3
    assert sorted(p.name for p in data_dir(tmp_path).iterdir()) == before_entries


def test_restore_with_the_wrong_key_is_refused_and_says_which_key_it_needs(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    archived(api)
    path = tmp_path / "b.backup"
    ops.backup(db_url, path, data_dir=data_dir(tmp_path), keyring=ring(tmp_path))
    fp = ring(tmp_path).fingerprint("k1")
    other = Keyring.generate()  # another county's key file: also calls its key "k1"
    rotated_only = Keyring.generate()
    rotated_only.data_keys = {"k2": rotated_only.data_keys["k1"]}
    before_db = ops.fingerprint(engine_for(db_url))
    before_files = stored(data_dir(tmp_path))
    for keyring, message in (
        (
            other,
            rf"^the key file does not open the archive: the archive needs data key 'k1' \(fingerprint {fp}\), its 'k1' has fingerprint {other.fingerprint('k1')};",
        ),
        (
            rotated_only,
            rf"needs data key 'k1' \(fingerprint {fp}\), which the key file does not hold \(it holds k2\)",
        ),
        (None, rf"needs data key 'k1' \(fingerprint {fp}\), but the key file does not exist"),
    ):
        with pytest.raises(ops.BackupError, match=message):
            ops.restore(db_url, path, data_dir=data_dir(tmp_path), keyring=keyring)
    assert ops.fingerprint(engine_for(db_url)) == before_db
    assert stored(data_dir(tmp_path)) == before_files


def test_a_database_only_backup_leaves_the_archive_alone(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    archived(api)
    path = tmp_path / "old.backup"
    ops.backup(db_url, path)  # as before archives were backed up: no "archive" in the manifest
    before_files = stored(data_dir(tmp_path))
    back = ops.restore(db_url, path, data_dir=data_dir(tmp_path), keyring=None)
    assert back.matches is True and back.archive is None
    assert back.warnings == [
        f"the backup holds no archive: {data_dir(tmp_path) / 'archive'} was left as it was"
    ]
    assert stored(data_dir(tmp_path)) == before_files


def _nongbao(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nongbao", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_restore_refuses_a_tampered_backup_and_a_wrong_key_in_one_line(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    docs = archived(api)
    env = server_env(db_url, tmp_path)
    path = tmp_path / "backups" / "county.backup"
    made = _nongbao(env, "backup", str(path))
    assert made.returncode == 0, made.stderr
    fp = ring(tmp_path).fingerprint("k1")
    assert "archive: 2 stored files" in made.stdout and f"k1 (fingerprint {fp})" in made.stdout

    wrong = tmp_path / "other" / "master.key"
    save_keyring(Keyring.generate(), wrong)
    refused = _nongbao({**env, "NONGBAO_KEY_FILE": str(wrong)}, "restore", str(path), "--yes")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"nongbao: the key file {wrong} does not open the archive")
    assert f"needs data key 'k1' (fingerprint {fp})" in refused.stderr

    back = _nongbao(env, "restore", str(path), "--yes")
    assert back.returncode == 0, back.stderr
    assert (
        f"the archive needs data key 'k1' (fingerprint {fp}); the key file {key_file(tmp_path)} opens it"
        in back.stdout
    )

    blob = sorted(p for p in ops.archive_path(path).rglob("*") if p.is_file())[0]
    blob.write_bytes(blob.read_bytes()[:-1])
    tampered = _nongbao(env, "restore", str(path), "--yes", "--json")
    assert tampered.returncode == 1 and tampered.stdout == ""
    assert tampered.stderr.count("\n") == 1, tampered.stderr
    assert "was altered" in tampered.stderr and "nothing was changed" in tampered.stderr
    for doc_id, data in docs.items():  # the live system still reads its documents
        assert api.get(f"/api/v1/documents/{doc_id}/content", "clerk").content == data
