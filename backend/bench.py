"""`nongbao bench`: the performance figures of the README, measured on this machine.

Each figure runs on a fresh database made for it (SQLite in a temporary folder; PostgreSQL
as a new database on the server named by NONGBAO_BENCH_DATABASE_URL or
NONGBAO_TEST_DATABASE_URL), so nothing of a real county is touched.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa

PERIOD = "2026-10"


@contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    from backend.db import engine_for, upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            upgrade(url)
            yield url
            engine_for(url).dispose()
        return
    base = os.environ.get("NONGBAO_BENCH_DATABASE_URL") or os.environ.get(
        "NONGBAO_TEST_DATABASE_URL"
    )
    if not base:
        raise click.ClickException(
            "set NONGBAO_BENCH_DATABASE_URL to a PostgreSQL server where databases can be created"
        )
    name = f"nongbao_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def payroll_seconds(kind: str, people: int) -> dict[str, float | int | str]:
    from backend.crypto import Keyring
    from backend.db import engine_for
    from backend.policy import load_policy
    from backend.services import payroll
    from backend.services.context import Actor
    from backend.synth import create_pensioners

    with fresh_database(kind) as url:
        engine = engine_for(url)
        started = time.perf_counter()
        create_pensioners(engine, Keyring.generate(), people, period=PERIOD)
        setup = time.perf_counter() - started
        if kind == "postgres":  # a county's database has planner statistics; a fresh one not yet
            with engine.connect() as conn:
                conn.execute(sa.text("ANALYZE"))
                conn.commit()
        started = time.perf_counter()
        result = payroll.run(
            engine, load_policy(), Actor("user", "bench", "admin"), date(2026, 11, 27), PERIOD
        )
        seconds = time.perf_counter() - started
        assert result.paid == people, f"paid {result.paid} of {people}"
    return {
        "database": kind,
        "people": people,
        "seconds": round(seconds, 2),
        "people_per_second": round(people / seconds),
        "setup_seconds": round(setup, 1),
    }


@click.group()
def bench() -> None:
    """Performance benchmarks (not tests: they print figures)."""


@bench.command("payroll")
@click.option(
    "--sizes",
    default="20000,200000",
    show_default=True,
    help="comma-separated numbers of pensioners",
)
@click.option("--database", "databases", default="sqlite,postgres", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_payroll(sizes: str, databases: str, as_json: bool) -> None:
    """Time one monthly payroll for synthetic counties of the given sizes."""
    results = []
    for kind in databases.split(","):
        for n in (int(x) for x in sizes.split(",")):
            r = payroll_seconds(kind.strip(), n)
            results.append(r)
            if not as_json:
                click.echo(
                    f"{r['database']:>8}  {r['people']:>8} pensioners  payroll {r['seconds']:>7.2f} s  ({r['people_per_second']}/s; set-up {r['setup_seconds']} s)"
                )
    if as_json:
        click.echo(json.dumps({"payroll": results}))


# --- balance query latency under concurrent load (loopback, a live uvicorn) -----------------


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


async def _load(
    base: str, token: str, person_ids: list[str], requests: int, concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    """At most `requests` GETs, at most `seconds` long, `concurrency` in flight: bounded both ways."""
    import asyncio
    import random

    import httpx

    latencies: list[float] = []
    errors = 0
    issued = 0
    rng = random.Random(7)
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30, limits=limits
    ) as client:

        async def worker() -> None:
            nonlocal errors, issued
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                pid = rng.choice(person_ids)
                t0 = time.perf_counter()
                try:
                    r = await client.get(f"/api/v1/persons/{pid}/account")
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, errors, wall


def balance_latency(
    kind: str, people: int, requests: int, concurrency: int, seconds: float, workers: int
) -> dict[str, object]:
    import asyncio
    import socket
    import subprocess
    import sys

    import httpx

    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.services import auth
    from backend.synth import create_pensioners

    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys" / "master.key"
        keyring = load_keyring(key_file)
        engine = engine_for(url)
        create_pensioners(engine, keyring, people, period=PERIOD)
        with session_scope(engine) as s:
            auth.create_user(s, "bench", "bench-password", "clerk")
            ids = [r[0] for r in s.execute(sa.text("SELECT id FROM person"))]
        engine.dispose()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            "NONGBAO_DATABASE_URL": url,
            "NONGBAO_DATA_DIR": tmp,
            "NONGBAO_KEY_FILE": str(key_file),
            "NONGBAO_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nongbao",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base, server)
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                data={"username": "bench", "password": "bench-password"},
                timeout=30,
            ).json()["access_token"]
            latencies, errors, wall = asyncio.run(
                _load(base, token, ids, requests, concurrency, seconds)
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "database": kind,
        "people": people,
        "workers": workers,
        "concurrency": concurrency,
        "requests": len(ms),
        "errors": errors,
        "seconds": round(wall, 2),
        "requests_per_second": round(len(ms) / wall, 1) if wall else 0,
        "p50_ms": round(_percentile(ms, 0.50), 2),
        "p95_ms": round(_percentile(ms, 0.95), 2),
        "p99_ms": round(_percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1], 2) if ms else None,
    }


def _wait_healthy(base: str, server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise click.ClickException("the benchmark server exited during start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise click.ClickException("the benchmark server did not answer /healthz within 60 s")


@bench.command("balance")
@click.option(
    "--people",
    default=20_000,
    show_default=True,
    type=int,
    help="synthetic pensioners with accounts",
)
@click.option(
    "--requests",
    "requests",
    default=5_000,
    show_default=True,
    type=int,
    help="at most this many balance queries",
)
@click.option("--concurrency", default=16, show_default=True, type=int, help="queries in flight")
@click.option(
    "--seconds",
    default=60.0,
    show_default=True,
    type=float,
    help="stop after this long, whatever the count",
)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
@click.option("--database", "databases", default="sqlite,postgres", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_balance(
    people: int,
    requests: int,
    concurrency: int,
    seconds: float,
    workers: int,
    databases: str,
    as_json: bool,
) -> None:
    """Latency of GET /persons/{id}/account (p50/p95/p99) under concurrent load on loopback."""
    results = []
    for kind in databases.split(","):
        r = balance_latency(kind.strip(), people, requests, concurrency, seconds, workers)
        results.append(r)
        if not as_json:
            click.echo(
                f"{r['database']:>8}  {r['people']} people, {r['workers']} worker(s), {r['concurrency']} in flight: {r['requests']} queries in {r['seconds']} s "
                f"({r['requests_per_second']}/s)  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  errors {r['errors']}"
            )
    if as_json:
        click.echo(json.dumps({"balance": results}))


# --- reports on a synthetic county ------------------------------------------------------------


def report_seconds(kind: str, people: int) -> dict[str, object]:
    """Seconds to build the fund statement (JSON) and to render one payroll's monthly statement as PDF and XLSX."""
    from backend.crypto import Keyring
    from backend.db import engine_for, session_scope
    from backend.policy import load_policy
    from backend.reports import fund, statement
    from backend.reports.render import render
    from backend.services import payroll
    from backend.services.context import Actor
    from backend.synth import create_pensioners

    keyring = Keyring.generate()
    with fresh_database(kind) as url:
        engine = engine_for(url)
        create_pensioners(engine, keyring, people, period=PERIOD)
        run = payroll.run(
            engine, load_policy(), Actor("user", "bench", "admin"), date(2026, 11, 27), PERIOD
        )
        out: dict[str, object] = {"database": kind, "people": people}
        with session_scope(engine) as s:
            started = time.perf_counter()
            summary = fund.report(s, 2026).summary
            out["fund_seconds"] = round(time.perf_counter() - started, 2)
            assert summary["reconciled"], "the fund statement does not reconcile"
            started = time.perf_counter()
            monthly = statement.report(s, keyring, run.run_id)
            out["statement_seconds"] = round(time.perf_counter() - started, 2)
        for fmt in ("xlsx", "pdf"):
            started = time.perf_counter()
            out[f"{fmt}_bytes"] = len(render(monthly, fmt))
            out[f"{fmt}_seconds"] = round(time.perf_counter() - started, 2)
        engine.dispose()
    return out


@bench.command("reports")
@click.option(
    "--people",
    default=5_000,
    show_default=True,
    type=int,
    help="synthetic pensioners (one payroll run)",
)
@click.option("--database", "databases", default="sqlite,postgres", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_reports(people: int, databases: str, as_json: bool) -> None:
    """Time the fund statement and one monthly statement (built, then rendered as XLSX and PDF)."""
    results = [report_seconds(kind.strip(), people) for kind in databases.split(",")]
    if as_json:
        click.echo(json.dumps({"reports": results}))
        return
    for r in results:
        click.echo(
            f"{r['database']:>8}  {r['people']} pensioners: fund {r['fund_seconds']} s, monthly statement {r['statement_seconds']} s, "
            f"XLSX {r['xlsx_seconds']} s ({r['xlsx_bytes']} bytes), PDF {r['pdf_seconds']} s ({r['pdf_bytes']} bytes)"
        )
