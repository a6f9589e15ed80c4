"""/metrics (requests, latency by route, certifications, payroll) and one JSON log line per request."""

from __future__ import annotations

import json
import re

import pytest

from backend import logs
from tests.backend.conftest import Api, valid_id


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" ([0-9.e+-]+)"
    found = re.search(pattern, text)
    assert found, f"{name}{{{want}}} not in /metrics"
    return float(found.group(1))


def test_metrics_count_requests_by_route_and_business_figures(api: Api) -> None:
    pid = api.enrol(valid_id("510105", "19550301", "002"), enrolled_on="2010-07-10")
    for y in range(2010, 2015):
        assert api.pay(pid, y, 10000, f"{y}-09-01").status_code == 201
    assert (
        api.post(
            f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2015-04-01"}
        ).status_code
        == 201
    )
    assert (
        api.post(
            "/api/v1/payroll-runs", json={"period": "2015-04", "run_on": "2015-04-20"}
        ).status_code
        == 201
    )
    for _ in range(3):
        api.get(f"/api/v1/persons/{pid}", "clerk")
    assert api.get("/api/v1/persons/nobody", "clerk").status_code == 404
    text = api.client.get("/metrics").text
    route = "/api/v1/persons/{person_id}"
    assert metric(text, "nongbao_http_requests_total", method="GET", route=route, status="200") == 3
    assert metric(text, "nongbao_http_requests_total", method="GET", route=route, status="404") == 1
    assert (
        metric(
            text,
            "nongbao_http_requests_total",
            method="POST",
            route="/api/v1/contributions",
            status="201",
        )
        == 5
    )
    assert (
        metric(text, "nongbao_http_request_duration_seconds_count", method="GET", route=route) == 4
    )
    assert (
        metric(
            text,
            "nongbao_http_request_duration_seconds_bucket",
            le="30.0",
            method="GET",
            route=route,
        )
        == 4
    )
    assert "/api/v1/persons/p" not in text  # raw paths with ids never become labels
    assert metric(text, "nongbao_certifications_total", channel="award", outcome="passed") == 1
    assert metric(text, "nongbao_payroll_runs_total") == 1
    assert metric(text, "nongbao_payroll_last_run_paid") == 1
    assert metric(text, "nongbao_payroll_last_run_seconds") >= 0


def test_one_json_log_line_per_request(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NONGBAO_LOG_FORMAT", "json")
    logs.configure(force=True)
    try:
        api.get("/api/v1/persons/nobody", "clerk")
        api.client.get("/healthz")
        lines = [
            json.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")
        ]
    finally:
        monkeypatch.setenv("NONGBAO_LOG_FORMAT", "text")
        logs.configure(force=True)
    requests = [ln for ln in lines if ln["logger"] == "nongbao.request"]
    person = next(ln for ln in requests if ln["path"] == "/api/v1/persons/nobody")
    assert (person["route"], person["status"], person["actor"], person["method"]) == (
        "/api/v1/persons/{person_id}",
        404,
        "user:clerk(clerk)",
        "GET",
    )
    assert person["duration_ms"] >= 0 and person["ts"].endswith("+00:00")
    health = next(ln for ln in requests if ln["path"] == "/healthz")
    assert (health["status"], health["actor"]) == (200, "-")
    assert "Bearer" not in json.dumps(requests) and "eyJ" not in json.dumps(
        requests
    )  # never the token
