"""The `nongbao` command as a user runs it: real subprocesses, real databases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.backend.conftest import bootstrap, valid_id
from tests.live import ROOT, free_port, server_env


def nongbao(
    args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nongbao", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_upgrade_then_add_user_from_stdin(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'fresh.sqlite3'}", tmp_path)
    r = nongbao(["db", "upgrade"], env)
    assert r.returncode == 0, r.stderr
    from backend.db import head_revision

    assert f"revision {head_revision()}" in r.stdout
    assert nongbao(["db", "upgrade"], env).returncode == 0  # safe twice
    r = nongbao(
        ["user", "add", "laowang", "--role", "admin"], env, stdin="a long enough password\n"
    )
    assert r.returncode == 0, r.stderr
    r = nongbao(
        ["user", "add", "laowang", "--role", "admin"], env, stdin="a long enough password\n"
    )
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "already exists" in r.stderr
    r = nongbao(["user", "add", "xiaoli", "--role", "clerk"], env, stdin="short\n")
    assert r.returncode != 0 and "at least 8" in r.stderr


def test_server_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}", tmp_path)
    r = nongbao(["serve", "--port", str(free_port())], env)
    assert r.returncode != 0
    assert "nongbao db upgrade" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_policy_show_json_and_a_broken_policy_file(tmp_path: Path) -> None:
    env = server_env("sqlite://", tmp_path)
    r = nongbao(["policy", "show", "--json"], env)
    assert r.returncode == 0, r.stderr
    policy = json.loads(r.stdout)
    assert policy["scheme_start"] == "2010-07-01" and [s["name"] for s in policy["sets"]] == [
        "2009",
        "2014",
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "backend/policy/default_county.toml")
        .read_text()
        .replace(
            'subsidy_fen = { "10000" = 3000, "20000" = 3500,', 'subsidy_fen = { "20000" = 3500,', 1
        )
    )
    r = nongbao(["policy", "show"], {**env, "NONGBAO_POLICY_FILE": str(bad)})
    assert r.returncode != 0 and "no subsidy for tiers [10000]" in r.stderr


def test_ledger_check_detects_tampering(db_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from backend.db import engine_for
    from tests.backend.conftest import Api, make_settings
    from tests.conftest import TODAY

    bootstrap(db_url, tmp_path)
    with TestClient(create_app(make_settings(db_url, tmp_path), today=lambda: TODAY)) as client:
        api = Api(client)
        pid = api.enrol(valid_id("110105", "19750310", "001"))
        assert api.pay(pid, 2011, 10000, "2011-05-01").status_code == 201
    env = server_env(db_url, tmp_path)
    ok = nongbao(["ledger", "check", "--json"], env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    with engine_for(db_url).begin() as conn:  # someone edits a transfer behind the ledger's back
        conn.execute(
            sa.text("UPDATE ledger_transfer SET amount_fen = amount_fen + 1 WHERE code = 'subsidy'")
        )
    bad = nongbao(["ledger", "check", "--json"], env)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert any("government" in b and "differ" in b for b in report["breaches"])
    assert "breaches" in bad.stderr
