"""Backup, damage, restore: every row and every fen comes back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend import ops
from backend.db import engine_for
from tests.backend.conftest import Api, valid_id
from tests.live import ROOT
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
    assert (
        taken.fingerprint["rows:ledger_transfer"] > 100 and taken.fingerprint["transfers_fen"] > 0
    )
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
    assert back.matches is False and back.differences == [
        f"rows:person: backup had {taken.fingerprint['rows:person'] + 1}, restored has {taken.fingerprint['rows:person']}"
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
