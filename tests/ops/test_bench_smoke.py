"""A smoke run of `nongbao bench balance` (tiny and bounded): the lead runs the real sizes."""

from __future__ import annotations

from typing import Any

import pytest

from backend.bench import _percentile, balance_latency, payroll_seconds, report_seconds


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_balance_bench_smoke(kind: str) -> None:
    (one,) = balance_latency(kind, people=60, requests=40, concurrencies=[4], seconds=30, workers=1)
    r: dict[str, Any] = one
    assert (r["database"], r["errors"], r["requests"]) == (kind, 0, 40)
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"]
    floor: dict[str, Any] = r["floor"]
    assert (floor["errors"], floor["requests"]) == (0, 40)  # the floor read the same people
    assert r["ratio_throughput"] > 0 and r["ratio_p99"] > 0


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
