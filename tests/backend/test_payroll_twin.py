"""Twin payroll runs: a second run of a period still in progress answers one clear line (CLI)
or a 409 with a code (API), never a database trace; and no raw database error reaches a user."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from backend.api import problems
from backend.crypto import load_keyring
from backend.db import engine_for
from backend.services import payroll
from backend.synth import create_pensioners
from nongbao.cli import one_line
from tests.backend.conftest import Api
from tests.live import ROOT, server_env

PERIOD = "2026-10"
SQL = "INSERT INTO paid_month (person_id, month) VALUES (%(person_id)s, %(month)s)"


def test_an_api_twin_is_a_409_with_a_code(api: Api, db_url: str) -> None:
    with payroll.period_lock(engine_for(db_url), PERIOD):  # another run holds the period
        r = api.post("/api/v1/payroll-runs", json={"period": PERIOD})
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "payroll_run_in_progress"
    assert r.json()["detail"].startswith(f"a run for {PERIOD} is already in progress")
    assert api.post("/api/v1/payroll-runs", json={"period": PERIOD}).status_code == 201


def _running(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT count(*) FROM paid_month WHERE month = :m"),
                {"m": PERIOD},
            ).scalar_one()
        )


def test_two_cli_runs_at_once(db_url: str, tmp_path: Path) -> None:
    """Run A pays its first chunk and pauses (holding the period); run B, started then, says
    one line and exits non-zero; A is killed; run C resumes A's run and pays each person once."""
    env = server_env(db_url, tmp_path)
    keyring = load_keyring(Path(env["NONGBAO_KEY_FILE"]))
    engine = engine_for(db_url)
    create_pensioners(engine, keyring, 12, period=PERIOD, villages=2)
    cmd = [sys.executable, "-m", "nongbao", "payroll", "run", "--period", PERIOD, "--json"]
    slow = {**env, "NONGBAO_PAYROLL_CHUNK": "4", "NONGBAO_PAYROLL_PAUSE_S": "600"}
    first = subprocess.Popen(
        cmd, env=slow, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not _running(engine):  # A holds the period: it has paid a chunk and sleeps
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "run A paid no one within 120 s"
            time.sleep(0.1)
        twin = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert twin.returncode != 0
        lines = twin.stderr.strip().splitlines()
        assert lines == [
            f"nongbao: a run for {PERIOD} is already in progress; wait for it to finish "
            "(it pays each person once), then look at its result"
        ], twin.stderr
        assert twin.stdout == ""
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        per_person = conn.execute(
            sa.text(
                "SELECT person_id, count(*) FROM paid_month WHERE month = :m GROUP BY person_id"
            ),
            {"m": PERIOD},
        ).all()
        runs = conn.execute(
            sa.text("SELECT status FROM payroll_run WHERE period = :m"), {"m": PERIOD}
        ).all()
    assert len(per_person) == 12 and {n for _, n in per_person} == {1}
    assert [r.status for r in runs] == ["completed"]  # A's run was resumed, not duplicated


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (IntegrityError, 409, "concurrent_change"),
        (DataError, 422, "value_not_storable"),
        (OperationalError, 503, "database_unavailable"),
    ],
)
def test_no_raw_database_error_reaches_a_user(
    error: type[Exception], status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise error(SQL, {"person_id": "p-secret-person", "month": PERIOD}, Exception("refused"))

    r = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert r.status_code == status and r.json()["code"] == code
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "INSERT" not in r.text and "paid_month" not in r.text and "p-secret" not in r.text
    # the operator's log has the driver's message, not the bound values
    assert "refused" in caplog.text and "p-secret-person" not in caplog.text


def test_the_command_line_shows_no_sql_either() -> None:
    exc = IntegrityError(
        SQL,
        {"person_id": "p-secret-person", "month": PERIOD},
        Exception(
            'duplicate key value violates unique constraint "pk_paid_month"\nDETAIL: Key (...)'
        ),
    )
    line = one_line(exc)
    assert line == (
        "the database refused this (IntegrityError): "
        'duplicate key value violates unique constraint "pk_paid_month"'
    )
    assert one_line(ValueError("plain")) == "ValueError: plain"
