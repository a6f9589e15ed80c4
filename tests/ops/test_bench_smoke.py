"""A smoke run of `nongbao bench balance` (tiny and bounded): the lead runs the real sizes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backend.bench import (
    _percentile,
    balance_latency,
    payroll_seconds,
    report_seconds,
    wrk_load,
)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_balance_bench_smoke(kind: str) -> None:
    (one,) = balance_latency(kind, people=60, concurrencies=[4], seconds=3, workers=1)
    r: dict[str, Any] = one
    assert (r["database"], r["errors"]) == (kind, 0) and r["requests"] > 0
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    floor: dict[str, Any] = r["floor"]
    assert floor["errors"] == 0 and floor["requests"] > 0  # the floor read the same people
    assert r["ratio_throughput"] > 0 and r["ratio_p99"] > 0


def test_wrk_counts_refusals_as_errors(tmp_path: Path) -> None:
    """The load generator's error count is real: a server that answers 404 to some of the
    people and 200 to others is reported with both (wrk's non-2xx answers are errors)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            status = 200 if self.path.endswith("/known") else 404
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        r: dict[str, Any] = wrk_load(
            base, "t0ken", ["known", "unknown"], concurrency=2, seconds=1, path="/p/{}"
        )
    finally:
        server.shutdown()
    # wrk counts the answers it read before its time was up: at most one per connection
    # is still in flight then
    assert 0 < r["requests"] <= len(seen) <= r["requests"] + 2
    refused = sum(p.endswith("/unknown") for p in seen)
    assert 0 < r["errors"] < r["requests"] and abs(r["errors"] - refused) <= 2


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (_percentile(values, 0.5), _percentile(values, 0.95), _percentile(values, 0.99)) == (
        51.0,
        95.0,
        99.0,
    )


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reports_bench_smoke(kind: str) -> None:
    r: dict[str, Any] = report_seconds(kind, people=50)
    assert r["database"] == kind and r["pdf_bytes"] > 5000 and r["xlsx_bytes"] > 3000
    assert all(
        r[k] >= 0 for k in ("fund_seconds", "statement_seconds", "xlsx_seconds", "pdf_seconds")
    )


def test_payroll_bench_builds_its_floor_with_the_same_rows() -> None:
    r: dict[str, Any] = payroll_seconds("sqlite", 40)
    run, floor = r["run_rows"], r["floor_rows"]
    assert run["paid_month"] == run["payroll_line"] == 40 and run["ledger_transfer"] >= 40
    assert all(floor[t] == n for t, n in run.items()), (run, floor)
    # the timings themselves are not asserted (a 40-person floor can round to 0.00 s)
    assert floor["ledger_account"] > 0 and r["floor_seconds"] >= 0
