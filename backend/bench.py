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
    base = os.environ.get("NONGBAO_BENCH_DATABASE_URL") or os.environ.get("NONGBAO_TEST_DATABASE_URL")
    if not base:
        raise click.ClickException("set NONGBAO_BENCH_DATABASE_URL to a PostgreSQL server where databases can be created")
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
        result = payroll.run(engine, load_policy(), Actor("user", "bench", "admin"), date(2026, 11, 27), PERIOD)
        seconds = time.perf_counter() - started
        assert result.paid == people, f"paid {result.paid} of {people}"
    return {"database": kind, "people": people, "seconds": round(seconds, 2), "people_per_second": round(people / seconds), "setup_seconds": round(setup, 1)}


@click.group()
def bench() -> None:
    """Performance benchmarks (not tests: they print figures)."""


@bench.command("payroll")
@click.option("--sizes", default="20000,200000", show_default=True, help="comma-separated numbers of pensioners")
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
                click.echo(f"{r['database']:>8}  {r['people']:>8} pensioners  payroll {r['seconds']:>7.2f} s  ({r['people_per_second']}/s; set-up {r['setup_seconds']} s)")
    if as_json:
        click.echo(json.dumps({"payroll": results}))
