"""`nongbao bench`: the performance figures of the README, measured on this machine.

Each figure runs on a fresh database made for it (SQLite in a temporary folder; PostgreSQL
as a new database on the server named by NONGBAO_BENCH_DATABASE_URL or
NONGBAO_TEST_DATABASE_URL), so nothing of a real county is touched.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import cast

import click
import sqlalchemy as sa

from client.capture import DeviceKey

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


def payroll_seconds(kind: str, people: int) -> dict[str, object]:
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
        run_rows = _run_rows(engine, result.run_id)
        floor, rows = payroll_floor(engine, result.run_id)
    return {
        "database": kind,
        "people": people,
        "seconds": round(seconds, 2),
        "people_per_second": round(people / seconds),
        "setup_seconds": round(setup, 1),
        "floor_seconds": round(floor, 2),
        "ratio": round(seconds / floor, 2) if floor else None,
        "run_rows": run_rows,
        "floor_rows": rows,
    }


def _run_rows(engine: sa.Engine, run_id: str) -> dict[str, int]:
    """The rows the run wrote, by table (the floor must write as many)."""
    q = {
        "paid_month": "SELECT count(*) FROM paid_month WHERE run_id = :run",
        "payroll_line": "SELECT count(*) FROM payroll_line WHERE run_id = :run",
        "ledger_posting": f"SELECT count(*) FROM ledger_posting WHERE id IN {_RUN_POSTINGS}",
        "ledger_transfer": "SELECT count(*) FROM ledger_transfer WHERE posting_id IN "
        + _RUN_POSTINGS,
    }
    with engine.connect() as conn:
        return {
            t: int(conn.execute(sa.text(sql), {"run": run_id}).scalar_one()) for t, sql in q.items()
        }


# the rows a payroll run writes, copied by plain set-based SQL (the floor of `bench payroll`):
# the copy keys them apart (a run "floor", months 19xx, postings "f..."), and its transfers go
# the other way, so the same two balances per transfer are updated and none goes negative
_RUN_POSTINGS = "(SELECT DISTINCT posting_id FROM payroll_line WHERE run_id = :run)"
_NEW_POSTING = "'f' || substr(posting_id, 2)"
_FLOOR_COPIES: tuple[tuple[str, dict[str, str], str], ...] = (
    ("payroll_run", {"id": "'floor'", "period": "'1900-01'"}, "id = :run"),
    (
        "ledger_posting",
        {"id": "'f' || substr(id, 2)", "idempotency_key": "'floor:' || idempotency_key"},
        f"id IN {_RUN_POSTINGS}",
    ),
    (
        "ledger_transfer",
        {
            "posting_id": _NEW_POSTING,
            "debit_account_id": "credit_account_id",
            "credit_account_id": "debit_account_id",
        },
        f"posting_id IN {_RUN_POSTINGS}",
    ),
    (
        "paid_month",
        {"run_id": "'floor'", "month": "'19' || substr(month, 3)", "posting_id": _NEW_POSTING},
        "run_id = :run",
    ),
    ("payroll_line", {"run_id": "'floor'", "posting_id": _NEW_POSTING}, "run_id = :run"),
)
_FLOOR_BALANCES = tuple(
    f"UPDATE ledger_account SET {side}s_posted = {side}s_posted + x.amount FROM (SELECT"
    f" {side}_account_id AS account, sum(amount_fen) AS amount FROM ledger_transfer WHERE"
    " posting_id IN (SELECT DISTINCT posting_id FROM payroll_line WHERE run_id = 'floor')"
    f" GROUP BY {side}_account_id) x WHERE ledger_account.id = x.account"
    for side in ("debit", "credit")
)


def _copy_sql(engine: sa.Engine, table: str, overrides: dict[str, str], where: str) -> str:
    columns = [
        c["name"]
        for c in sa.inspect(engine).get_columns(table)
        if not (c["name"] == "id" and "id" not in overrides)  # a serial id: a new one
    ]
    names = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(overrides.get(c, f'"{c}"') for c in columns)
    return f"INSERT INTO {table} ({names}) SELECT {values} FROM {table} WHERE {where}"


def payroll_floor(engine: sa.Engine, run_id: str) -> tuple[float, dict[str, int]]:
    """Seconds to write the run's rows again by plain set-based SQL, in one transaction, and
    the row counts written (the same as the run's own; ledger_account: balances updated)."""
    copies = [(t, _copy_sql(engine, t, o, w)) for t, o, w in _FLOOR_COPIES]
    started = time.perf_counter()
    rows: dict[str, int] = {}
    with engine.begin() as conn:
        for table, sql in [*copies, *(("ledger_account", b) for b in _FLOOR_BALANCES)]:
            n = conn.execute(sa.text(sql), {"run": run_id}).rowcount
            rows[table] = rows.get(table, 0) + max(n, 0)
    return time.perf_counter() - started, rows


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
                    f"  |  floor {r['floor_seconds']} s (the same rows by set-based SQL)  ratio {r['ratio']}x"
                )
    if as_json:
        click.echo(json.dumps({"payroll": results}))


# --- balance query latency under concurrent load (loopback, a live uvicorn) -----------------


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


# wrk (C, one thread) generates the load: a Python generator took most of a core from the
# 2-core machine's servers and measured itself. Each wrk connection sends one GET at a time
# (closed loop) to a random person; `done` prints the figures as one JSON line.
WRK_SCRIPT = r"""
local ids = {}
for line in io.lines(os.getenv("NONGBAO_BENCH_IDS")) do ids[#ids + 1] = line end
local path = os.getenv("NONGBAO_BENCH_PATH")
local token = os.getenv("NONGBAO_BENCH_TOKEN")
if token ~= nil and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
math.randomseed(7)
request = function()
  return wrk.format("GET", (path:gsub("{}", ids[math.random(#ids)])))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "microseconds": %d, "errors": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def wrk_load(
    base: str,
    token: str | None,
    person_ids: list[str],
    concurrency: int,
    seconds: float,
    path: str = "/api/v1/persons/{}/account",
) -> dict[str, object]:
    """`concurrency` connections, each one GET at a time, for `seconds`: throughput, latency
    percentiles and errors (any answer but 2xx/3xx, any socket error or timeout)."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        raise click.ClickException("wrk is not installed: run `make setup`")
    with tempfile.TemporaryDirectory() as tmp:
        script, ids = Path(tmp) / "load.lua", Path(tmp) / "ids.txt"
        script.write_text(WRK_SCRIPT)
        ids.write_text("\n".join(person_ids) + "\n")
        env = {
            **os.environ,
            "NONGBAO_BENCH_IDS": str(ids),
            "NONGBAO_BENCH_PATH": path,
            "NONGBAO_BENCH_TOKEN": token or "",
        }
        run = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(script),
                base,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=False,
        )
    lines = [x for x in run.stdout.splitlines() if x.startswith("{")]
    if run.returncode != 0 or not lines:
        raise click.ClickException(f"wrk failed: {(run.stderr or run.stdout).strip()[:300]}")
    raw = json.loads(lines[-1])
    wall = raw["microseconds"] / 1e6
    return {
        "requests": raw["requests"],
        "errors": raw["errors"],
        "seconds": round(wall, 2),
        "requests_per_second": round(raw["requests"] / wall, 1) if wall else 0,
        **{f"{k}_ms": round(raw[f"{k}_us"] / 1000, 2) for k in ("p50", "p95", "p99", "max")},
    }


def _ratio(top: dict[str, object], bottom: dict[str, object], key: str) -> float | None:
    a, b = top[key], bottom[key]
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, 2)


def balance_latency(
    kind: str,
    people: int,
    concurrencies: list[int],
    seconds: float,
    workers: int,
) -> list[dict[str, object]]:
    """Per concurrency: the floor (backend/bench_floor.py: the same rows, no sign-in, no audit),
    then the real route, both served by `workers` uvicorn workers on the same database and
    loaded by wrk for `seconds` each."""
    import httpx

    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.services import auth
    from backend.synth import create_pensioners

    out = []
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys" / "master.key"
        keyring = load_keyring(key_file)
        engine = engine_for(url)
        create_pensioners(engine, keyring, people, period=PERIOD)
        with session_scope(engine) as s:
            auth.create_user(s, "bench", "bench-password", "clerk")
            ids = [r[0] for r in s.execute(sa.text("SELECT id FROM person"))]
        engine.dispose()
        with (
            bench_server(url, tmp, key_file, workers) as base,
            bench_server(url, tmp, key_file, workers, app="backend.bench_floor:app") as floor,
        ):
            token = httpx.post(
                f"{base}/api/v1/auth/token",
                data={"username": "bench", "password": "bench-password"},
                timeout=30,
            ).json()["access_token"]
            for concurrency in concurrencies:
                bare = wrk_load(floor, None, ids, concurrency, seconds, "/floor/{}")
                real = wrk_load(base, token, ids, concurrency, seconds)
                out.append(
                    {
                        "database": kind,
                        "people": people,
                        "workers": workers,
                        "concurrency": concurrency,
                        **real,
                        "floor": bare,
                        # how many times slower than the floor: throughput and p99 latency
                        "ratio_throughput": _ratio(bare, real, "requests_per_second"),
                        "ratio_p99": _ratio(real, bare, "p99_ms"),
                    }
                )
    return out


@contextmanager
def bench_server(
    url: str, data_dir: str, key_file: Path, workers: int, app: str | None = None
) -> Iterator[str]:
    """A live `nongbao serve` (or uvicorn serving `app`) on a free loopback port for a
    benchmark; stopped at the end."""
    import subprocess
    import sys

    port = _free_port()
    env = {
        **os.environ,
        "NONGBAO_DATABASE_URL": url,
        "NONGBAO_DATA_DIR": data_dir,
        "NONGBAO_KEY_FILE": str(key_file),
        "NONGBAO_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "nongbao", "serve"]
    if app is not None:
        command = [sys.executable, "-m", "uvicorn", app, "--log-level", "warning"]
    command += ["--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base: str, server: subprocess.Popen[bytes], limit_s: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise click.ClickException("the benchmark server exited during start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise click.ClickException(
        f"the benchmark server did not answer /healthz within {limit_s:.0f} s"
    )


@bench.command("balance")
@click.option(
    "--people",
    default=20_000,
    show_default=True,
    type=int,
    help="synthetic pensioners with accounts",
)
@click.option(
    "--concurrency",
    default="64,8",
    show_default=True,
    help="queries in flight (comma-separated: one measurement each)",
)
@click.option(
    "--seconds",
    default=20.0,
    show_default=True,
    type=float,
    help="each measurement's length (the floor's, then the route's)",
)
@click.option("--workers", default=2, show_default=True, type=int, help="uvicorn worker processes")
@click.option("--database", "databases", default="postgres", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_balance(
    people: int,
    concurrency: str,
    seconds: float,
    workers: int,
    databases: str,
    as_json: bool,
) -> None:
    """GET /persons/{id}/account under concurrent load on loopback (throughput, p50/p95/p99),
    beside its floor: the same rows by a minimal endpoint with no sign-in and no audit."""
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    if not levels or min(levels) < 1:
        raise click.BadParameter("--concurrency must list numbers of at least 1")
    results = []
    for kind in databases.split(","):
        for r in balance_latency(kind.strip(), people, levels, seconds, workers):
            results.append(r)
            if not as_json:
                f = r["floor"]
                assert isinstance(f, dict)
                click.echo(
                    f"{r['database']:>8}  {r['people']} people, {r['workers']} worker(s), "
                    f"{r['concurrency']} in flight: {r['requests_per_second']}/s  "
                    f"p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  errors {r['errors']}  |  "
                    f"floor {f['requests_per_second']}/s  p50 {f['p50_ms']} ms  "
                    f"p99 {f['p99_ms']} ms  |  ratio {r['ratio_throughput']}x throughput, "
                    f"{r['ratio_p99']}x p99"
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


# --- certification submissions per second (the server re-computes every template) -------------

CERT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
CERT_ENROL, CERT_PROBE = "Donald_Rumsfeld_0001", "Donald_Rumsfeld_0003"  # 0.42 apart: a pass
# enrolment takes two photos: CERT_ENROL's companion (the probe is 0.32 from their mean)
CERT_COMPANION = "Donald_Rumsfeld_0004"
_ACTION_FRAME = {
    "blink": {"ear": 0.12},
    "turn_left": {"yaw": 22.0},
    "turn_right": {"yaw": -22.0},
    "open_mouth": {"mar": 0.40},
}


def cert_photos(faces_dir: Path | None = None) -> tuple[bytes, bytes, str]:
    """(enrolment photo, certification photo, where from): two real photos of one person from
    the shared face set (`lfw/`), or else scikit-image's astronaut (both the same picture)."""
    folder = (faces_dir or CERT_FACES) / "lfw" / CERT_ENROL.rsplit("_", 1)[0]
    enrol, probe = folder / f"{CERT_ENROL}.jpg", folder / f"{CERT_PROBE}.jpg"
    if enrol.is_file() and probe.is_file():
        return enrol.read_bytes(), probe.read_bytes(), str(folder)
    if faces_dir is not None:
        raise click.ClickException(f"{enrol} and {probe} are needed under --faces {faces_dir}")
    import io

    from PIL import Image

    from backend.demo import demo_face_png

    # the demo's crop, enlarged 2x: its face is big enough to enrol but too small for the
    # certification (verify) bar, as a kiosk camera would see it from a step too far
    picture = Image.open(io.BytesIO(demo_face_png())).convert("RGB")
    picture = picture.resize((picture.width * 2, picture.height * 2), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=95)
    return buf.getvalue(), buf.getvalue(), "skimage.data.astronaut"


def cert_enrolment(enrol_photo: bytes, faces_dir: Path | None = None) -> list[bytes]:
    """The two enrolment photos (the policy's minimum): CERT_ENROL and its companion from the
    shared set, or else a stand-in second view of the same picture (backend/stand_in.py)."""
    folder = (faces_dir or CERT_FACES) / "lfw" / CERT_COMPANION.rsplit("_", 1)[0]
    companion = folder / f"{CERT_COMPANION}.jpg"
    if companion.is_file():
        return [enrol_photo, companion.read_bytes()]
    from backend.stand_in import second_view

    return [enrol_photo, second_view(enrol_photo)]


def unique_jpeg(data: bytes, tag: str) -> bytes:
    """The same picture with a JPEG comment segment after SOI: other bytes, so the server's
    content-hash cache misses and it computes the template again, but the same pixels."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    text = tag.encode()
    return data[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[2:]


def synthesized_evidence(ch: dict[str, object]) -> str:
    """Per-frame liveness measurements that perform the challenge's actions (SYNTHESIZED: there
    is no video; what a kiosk would measure). Neutral frames point at sampled frame 0."""
    from datetime import datetime

    t = datetime.fromisoformat(str(ch["issued_at"])).timestamp() + 0.05
    neutral = {"face": True, "ear": 0.30, "mar": 0.10, "yaw": 0.0, "aspect": 1.0}
    frames: list[dict[str, object]] = []
    steps: list[dict[str, float]] = [{}, {}, {}]
    for action in cast("list[str]", ch["actions"]):  # the challenge's JSON list of actions
        steps += [_ACTION_FRAME[action], {}, {}]
    for values in steps:
        frames.append({"t": round(t, 3), **neutral, **(values or {"sample": 0})})
        t += 0.05
    return json.dumps({"frames": frames})


@functools.cache
def _rendered(photo: bytes, actions: tuple[str, ...]) -> tuple[list[bytes], list[float]]:
    from biometrics.image import load_image
    from biometrics.sequences import simulated_capture

    frames, items = simulated_capture(load_image(photo), actions, start=0.0)
    return frames, [float(i["t"]) for i in items]  # type: ignore[arg-type]


def live_capture(photo: bytes, ch: dict[str, object], tag: str) -> tuple[list[bytes], str]:
    """A genuine liveness sequence for the challenge (SYNTHESIZED from the photo by
    biometrics.sequences: the server measures liveness on the frames), each frame's bytes
    made unique (a JPEG comment) so that the server measures them again."""
    from datetime import datetime

    frames, offsets = _rendered(photo, tuple(ch["actions"]))  # type: ignore[arg-type]
    start = datetime.fromisoformat(str(ch["issued_at"])).timestamp() + 0.3
    items = [{"t": round(start + o, 3), "sample": i} for i, o in enumerate(offsets)]
    unique = [unique_jpeg(f, f"{tag} {i}") for i, f in enumerate(frames)]
    return unique, json.dumps({"frames": items})


def _cert_county(
    url: str, key_file: Path, people: int, enrol_photos: list[bytes]
) -> list[dict[str, str]]:
    """`people` pensioners, each with the same enrolled face, a gallery of the two enrolment
    photos (stored directly: the bench skips the 1:N duplicate search that would hold back
    every face after the first) and a kiosk of their own (the API allows 30 submissions a
    minute per device token)."""
    from backend.crypto import load_keyring
    from backend.db import engine_for, session_scope
    from backend.ledger import new_id
    from backend.models import FaceTemplate
    from backend.policy import load_policy
    from backend.services import auth, face_engine, faces
    from backend.services.context import Actor, Ctx
    from backend.synth import create_pensioners

    enrolled = face_engine.enrol(enrol_photos)
    if not enrolled.ok or len(enrolled.templates) < len(enrol_photos):
        raise click.ClickException(f"the bench's enrolment photo is refused: {enrolled.reasons}")
    keyring = load_keyring(key_file)
    engine = engine_for(url)
    create_pensioners(engine, keyring, people, period=PERIOD, prefix="pC", villages=5)
    subjects: list[dict[str, str]] = []
    with session_scope(engine) as s:
        ctx = Ctx(s, load_policy(), keyring, Actor("user", "bench", "clerk"))
        ids = [r[0] for r in s.execute(sa.text("SELECT id FROM person ORDER BY id"))]
        for n, pid in enumerate(ids):
            enrolment_id = new_id("enr")[:40]
            for template, quality in zip(enrolled.templates, enrolled.qualities, strict=True):
                s.add(
                    FaceTemplate(
                        id=new_id("fce")[:40],
                        person_id=pid,
                        template_enc=faces.seal(ctx, pid, template),
                        quality=quality,
                        created_by="bench",
                        source="enrolment",
                        enrolment_id=enrolment_id,
                    )
                )
            key = DeviceKey.generate()  # each bench kiosk signs its captures
            _, token = auth.register_device(s, f"bench-kiosk-{n}", "kiosk", "bench", key.public_b64)
            subjects.append(
                {"person_id": pid, "token": token, "private_pem": key.private_pem().decode()}
            )
    engine.dispose()
    return subjects


def encoder_floor_rate(photo: bytes, workers: int, pictures: float) -> float:
    """The floor of `bench certifications`: submissions per second if each worker did nothing
    but run the encoder (decode, face box, template: the server's unit of face work, as in
    scripts/cert_cpu_floor.py) once per picture a submission carries, on the bench's own
    rendered frames. Measured in this process while the server idles."""
    frames, _ = _rendered(photo, ("turn_left", "blink", "open_mouth"))
    return round(workers / (encoder_cpu_per_frame(frames) * pictures), 2)


def encoder_cpu_per_frame(frames: Sequence[bytes], count: int = 6) -> float:
    """Mean CPU seconds of the encoder (decode, face box, template: face_engine's uncached
    probe, the server's unit of face work) on `count` frames spread over `frames`, the models
    loaded first: the unit of the certification floors (also scripts/cert_cpu_floor.py)."""
    from backend.services import face_engine

    face_engine._probe(frames[0], False)  # loads the models
    sample = frames[:: max(1, len(frames) // count)][:count]
    cpu = time.process_time()
    for frame in sample:
        face_engine._probe(frame, False)
    return (time.process_time() - cpu) / len(sample)


async def _certify_load(
    base: str,
    subjects: list[dict[str, str]],
    photo: bytes,
    concurrency: int,
    seconds: float,
    sent: list[int],
) -> tuple[list[float], dict[str, int], int, float]:
    """Each subject once (challenge, then the certification), `concurrency` clients, at most
    `seconds` long. Latency is the submission's (POST /certifications) alone; `sent` gets
    the pictures (best image + frames) of each submission."""
    import asyncio

    import httpx

    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    errors = 0
    last_error = ""
    queue = list(reversed(subjects[1:]))  # subjects[0] is the warm-up's
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def one(subject: dict[str, str], tag: str) -> tuple[float, str | None]:
            nonlocal last_error
            headers = {"Authorization": f"Bearer {subject['token']}"}
            r = await client.post(
                "/api/v1/challenges", headers=headers, json={"person_id": subject["person_id"]}
            )
            if r.status_code != 201:
                last_error = f"challenge: {r.status_code} {r.text[:300]}"
                return 0.0, None
            ch = r.json()
            image = unique_jpeg(photo, tag)
            frames, evidence = live_capture(photo, ch, tag)
            sent.append(1 + len(frames))
            key = DeviceKey.from_pem(subject["private_pem"].encode())
            t0 = time.perf_counter()
            r = await client.post(
                "/api/v1/certifications",
                headers=headers,
                data={
                    "channel": "kiosk",
                    "person_id": subject["person_id"],
                    "challenge_id": ch["challenge_id"],
                    "nonce": ch["nonce"],
                    "evidence": evidence,
                    "signature": key.sign(
                        ch["challenge_id"], ch["nonce"], [image], frames, evidence
                    ),
                },
                files=[
                    ("images", ("best.jpg", image, "image/jpeg")),
                    *[("frames", (f"f{i}.jpg", f, "image/jpeg")) for i, f in enumerate(frames)],
                ],
            )
            took = time.perf_counter() - t0
            if r.status_code != 201:
                last_error = f"certification: {r.status_code} {r.text[:300]}"
                return took, None
            return took, r.json()["outcome"]

        async def worker() -> None:
            nonlocal errors
            while queue and time.perf_counter() < deadline:
                subject = queue.pop()
                try:
                    took, outcome = await one(subject, f"bench {subject['person_id']}")
                except httpx.HTTPError:
                    took, outcome = 0.0, None
                if outcome is None:
                    errors += 1
                    continue
                latencies.append(took)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

        # one untimed submission first: the server loads the face models on first use
        _, warm = await one(subjects[0], "bench warm-up")
        if warm is None:
            raise click.ClickException(f"the warm-up certification was refused: {last_error}")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, outcomes, errors, wall


def certification_rate(
    kind: str,
    requests: int,
    concurrency: int,
    *,
    seconds: float = 300.0,
    workers: int = 1,
    faces_dir: Path | None = None,
) -> dict[str, object]:
    """Submissions per second of kiosk certifications on a live uvicorn, each with a fresh
    image (the server computes its template, runs liveness on synthesized measurements and
    records the outcome), against a fresh database of `requests` (+1 warm-up) pensioners."""
    import asyncio

    enrol_photo, probe_photo, source = cert_photos(faces_dir)
    sent: list[int] = []  # pictures per submission: the best image and the frames
    with fresh_database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys" / "master.key"
        subjects = _cert_county(url, key_file, requests + 1, cert_enrolment(enrol_photo, faces_dir))
        with bench_server(url, tmp, key_file, workers) as base:
            latencies, outcomes, errors, wall = asyncio.run(
                _certify_load(base, subjects, probe_photo, concurrency, seconds, sent)
            )
    ms = sorted(x * 1000 for x in latencies)
    rate = round(len(ms) / wall, 2) if wall else 0
    floor = encoder_floor_rate(probe_photo, workers, statistics.mean(sent) if sent else 1.0)
    return {
        "database": kind,
        "faces": source,
        "workers": workers,
        "concurrency": concurrency,
        "requests": requests,
        "submitted": len(ms),
        "errors": errors,
        "outcomes": outcomes,
        "seconds": round(wall, 2),
        "submissions_per_second": rate,
        "floor_per_second": floor,
        "ratio": round(floor / rate, 2) if rate else None,  # throughput: floor / figure
        "p50_ms": round(_percentile(ms, 0.50), 1),
        "p95_ms": round(_percentile(ms, 0.95), 1),
        "max_ms": round(ms[-1], 1) if ms else None,
    }


@bench.command("certifications")
@click.option(
    "--requests",
    "requests",
    default=40,
    show_default=True,
    type=int,
    help="certifications to submit (one pensioner each)",
)
@click.option("--concurrency", default=2, show_default=True, type=int, help="clients in flight")
@click.option(
    "--seconds",
    default=300.0,
    show_default=True,
    type=float,
    help="stop submitting after this long, whatever the count",
)
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes")
@click.option("--database", "databases", default="sqlite", show_default=True)
@click.option(
    "--faces",
    "faces_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="a face folder laid out like ../shared/faces (default: that, else the astronaut)",
)
@click.option("--json", "as_json", is_flag=True)
def bench_certifications(
    requests: int,
    concurrency: int,
    seconds: float,
    workers: int,
    databases: str,
    faces_dir: Path | None,
    as_json: bool,
) -> None:
    """Kiosk certification submissions per second, the server re-computing every template."""
    if requests < 1 or concurrency < 1:
        raise click.BadParameter("--requests and --concurrency must be at least 1")
    results = []
    for kind in databases.split(","):
        r = certification_rate(
            kind.strip(),
            requests,
            concurrency,
            seconds=seconds,
            workers=workers,
            faces_dir=faces_dir,
        )
        results.append(r)
        if not as_json:
            click.echo(
                f"{r['database']:>8}  {r['submitted']} of {r['requests']} certifications, {r['concurrency']} in flight, "
                f"{r['workers']} worker(s): {r['submissions_per_second']}/s in {r['seconds']} s  "
                f"(floor {r['floor_per_second']}/s, ratio {r['ratio']}x)  "
                f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  max {r['max_ms']} ms  "
                f"outcomes {r['outcomes']}  errors {r['errors']}  (faces: {r['faces']})"
            )
    if as_json:
        click.echo(json.dumps({"certifications": results}))


def demo_ready_seconds() -> dict[str, float]:
    """`nongbao demo --no-kiosk` on a fresh data folder: seconds until /healthz answers.

    The floor, in the same run: the plainest way to the same served county is to restore
    it, i.e. copy the data folder the demo just built into an empty one and start
    `nongbao serve` (the server the demo starts) on it until /healthz answers: a process
    start and a file copy, with no county to build, which is the part the demo cannot skip.
    """
    with tempfile.TemporaryDirectory(prefix="nongbao-bench-demo-") as tmp:
        built, restored = Path(tmp) / "demo", Path(tmp) / "restored"
        ready = _seconds_to_healthy(["demo", "--no-kiosk", "--data-dir", str(built)], built)
        started = time.monotonic()  # the copy is part of the floor's work
        shutil.copytree(built, restored)
        floor = _seconds_to_healthy(["serve"], restored, started)
    return {"ready_seconds": round(ready, 2), "floor_seconds": round(floor, 2)}


def _seconds_to_healthy(args: list[str], data_dir: Path, started: float | None = None) -> float:
    """Seconds from `started` (default: now) until `nongbao <args>` on `data_dir` answers
    /healthz; the server is stopped before returning, so its folder can be copied."""
    import sys

    port = _free_port()
    # the caller's NONGBAO_ settings (a PostgreSQL URL, a key file) would be another county
    env = {k: v for k, v in os.environ.items() if not k.startswith("NONGBAO_")}
    started = time.monotonic() if started is None else started
    server = subprocess.Popen(
        [sys.executable, "-m", "nongbao", *args, "--port", str(port)],
        env={**env, "NONGBAO_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", server, limit_s=600)
        return time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def demo_summary(runs: list[dict[str, float]]) -> dict[str, object]:
    """Medians over the runs of the demo and of its floor, and their ratio; the ratio is
    taken from the rounded medians so that the printed figures divide to the printed ratio."""
    ready = sorted(r["ready_seconds"] for r in runs)
    floor = sorted(r["floor_seconds"] for r in runs)
    median, floor_median = ready[len(ready) // 2], floor[len(floor) // 2]
    return {
        "runs": ready,
        "floor_runs": floor,
        "ready_seconds": median,
        "floor_seconds": floor_median,
        "ratio": round(median / floor_median, 2) if floor_median else None,
    }


@bench.command("demo")
@click.option("--runs", default=3, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def bench_demo(runs: int, as_json: bool) -> None:
    """Seconds from `nongbao demo` on an empty data folder to a served demo county, against
    the same county restored (its folder copied) and served."""
    if runs < 1:
        raise click.BadParameter("--runs must be at least 1")
    r = demo_summary([demo_ready_seconds() for _ in range(runs)])
    if as_json:
        click.echo(json.dumps({"demo": r}))
    else:
        click.echo(
            f"demo county served after {r['ready_seconds']} s (median of {runs}: {r['runs']})"
            f"  |  floor {r['floor_seconds']} s (the built folder copied and served: "
            f"{r['floor_runs']})  ratio {r['ratio']}x"
        )
