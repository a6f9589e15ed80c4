"""A payroll run killed mid-way (a real SIGKILL) and run again: each person paid exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.crypto import load_keyring
from backend.db import engine_for
from backend.synth import create_pensioners
from tests.live import ROOT, server_env

pytestmark = pytest.mark.postgres
PEOPLE = 3000
PERIOD = "2026-10"


def _paid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM paid_month WHERE month = :m"), {"m": PERIOD}
        ).scalar_one()


def test_killed_payroll_resumes_and_pays_each_person_once(pg_url: str, tmp_path: Path) -> None:
    env = server_env(pg_url, tmp_path)
    keyring = load_keyring(Path(env["NONGBAO_KEY_FILE"]))
    engine = engine_for(pg_url)
    create_pensioners(engine, keyring, PEOPLE, period=PERIOD)
    cmd = [sys.executable, "-m", "nongbao", "payroll", "run", "--period", PERIOD, "--json"]

    # chunks of 250 people with a pause after each commit: a wide window to kill in
    slow = {**env, "NONGBAO_PAYROLL_CHUNK": "250", "NONGBAO_PAYROLL_PAUSE_S": "3"}
    proc = subprocess.Popen(cmd, env=slow, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _paid(engine) == 0:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the run paid no one within 120 s"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    paid_at_kill = _paid(engine)
    assert 0 < paid_at_kill < PEOPLE  # killed mid-way, some chunks committed

    # killed again right away: wherever it dies, a transaction is all or nothing
    proc = subprocess.Popen(
        cmd,
        env={**slow, "NONGBAO_PAYROLL_PAUSE_S": "0"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with engine.connect() as conn:
        per_person = conn.execute(
            sa.text(
                "SELECT person_id, count(*) FROM paid_month WHERE month = :m GROUP BY person_id"
            ),
            {"m": PERIOD},
        ).all()
        assert len(per_person) == PEOPLE and {n for _, n in per_person} == {1}
        runs = conn.execute(
            sa.text("SELECT status, paid, total_fen FROM payroll_run WHERE period = :m"),
            {"m": PERIOD},
        ).all()
        assert [r.status for r in runs] == [
            "completed"
        ]  # the killed run was resumed, not duplicated
        month_total = conn.execute(
            sa.text("SELECT SUM(basic_fen + account_fen) FROM paid_month WHERE month = :m"),
            {"m": PERIOD},
        ).scalar_one()
        assert runs[0].paid == PEOPLE and runs[0].total_fen == month_total
        lines = conn.execute(sa.text("SELECT count(*), SUM(total_fen) FROM payroll_line")).one()
        assert tuple(lines) == (PEOPLE, month_total)
        payout = conn.execute(
            sa.text("SELECT credits_posted FROM ledger_account WHERE code = 'payout:pensions'")
        ).scalar_one()
        assert payout == month_total
    check = subprocess.run(
        [sys.executable, "-m", "nongbao", "ledger", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout + check.stderr
