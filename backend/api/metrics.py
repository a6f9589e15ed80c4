"""Prometheus metrics at /metrics and the request log, from one middleware.

Per request: a counter by method, route template (never the raw path: ids would explode
the label space) and status, and a latency histogram by route. Business figures are read
from the database when scraped, so they are right whichever worker answers and survive
restarts: certifications by channel and outcome, payroll runs and the last run's duration.
With several uvicorn workers, set PROMETHEUS_MULTIPROC_DIR (docs/operations.md) so the
request counters of all workers are summed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import jwt
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import logs
from backend.crypto import Keyring

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class DatabaseCollector:
    """Figures that live in the database, read at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        certs = CounterMetricFamily(
            "nongbao_certifications",
            "Certifications recorded, by channel and outcome",
            labels=["channel", "outcome"],
        )
        runs = CounterMetricFamily("nongbao_payroll_runs", "Payroll runs completed")
        last = GaugeMetricFamily(
            "nongbao_payroll_last_run_seconds", "Duration of the last completed payroll run"
        )
        paid = GaugeMetricFamily(
            "nongbao_payroll_last_run_paid", "People paid by the last completed payroll run"
        )
        try:
            with self.engine.connect() as conn:
                for channel, outcome, n in conn.execute(
                    sa.text(
                        "SELECT channel, outcome, COUNT(*) FROM certification GROUP BY channel, outcome"
                    )
                ):
                    certs.add_metric([channel, outcome], int(n))
                runs.add_metric(
                    [],
                    int(
                        conn.execute(
                            sa.text("SELECT COUNT(*) FROM payroll_run WHERE status = 'completed'")
                        ).scalar_one()
                    ),
                )
                row = conn.execute(
                    sa.text(
                        "SELECT created_at, completed_at, paid FROM payroll_run WHERE status = 'completed' ORDER BY completed_at DESC LIMIT 1"
                    )
                ).first()
        except sa.exc.SQLAlchemyError:
            return  # the database is down: /healthz says so; the request metrics still answer
        if row is not None:
            last.add_metric([], _seconds(row.created_at, row.completed_at))
            paid.add_metric([], int(row.paid))
        yield from (certs, runs, last, paid)


def _seconds(start: object, end: object) -> float:
    from datetime import datetime

    def parse(v: object) -> datetime:
        return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))

    return max((parse(end) - parse(start)).total_seconds(), 0.0)


class Metrics:
    """Pure ASGI (not BaseHTTPMiddleware, whose task group and body streams cost more than
    a balance read's own work): the status is read from the response's start message."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, keyring: Keyring) -> None:
        self.app = app
        self.keyring = keyring
        self.requests = Counter(
            "nongbao_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "nongbao_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._observe(Request(scope), status, time.perf_counter() - started)

    def _observe(self, request: Request, status: int, seconds: float) -> None:
        route = _route_of(request)
        self.requests.labels(request.method, route, str(status)).inc()
        self.latency.labels(request.method, route).observe(seconds)
        logs.request_line(
            request.method,
            route,
            request.url.path,
            status,
            seconds * 1000,
            self._actor(request),
            request.client.host if request.client else None,
        )

    def _actor(self, request: Request) -> str:
        """Who called, for the log: the signed token's user, or a device; never the token.
        Named by the sign-in dependency when it ran; decoded here for a request refused
        before it (a limit, a bad token)."""
        named = request.scope.get("state", {}).get("log_actor")
        if isinstance(named, str):
            return named
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return "-"
        token = header[7:].strip()
        if token.startswith("nbd_"):
            return "device"
        from backend.services.auth import _jwt_secret

        try:
            claims = jwt.decode(
                token,
                _jwt_secret(self.keyring),
                algorithms=["HS256"],
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            return "invalid-token"
        return f"user:{claims.get('sub')}({claims.get('role')})"


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def install(app: FastAPI, engine: Engine, keyring: Keyring) -> None:
    """The middleware, the request log and GET /metrics; one registry per app (tests make many)."""
    logs.configure()
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    app.add_middleware(Metrics, registry=registry, keyring=keyring)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics() -> Response:
        return Response(
            generate_latest(_scrape_registry(registry, engine)), media_type=CONTENT_TYPE_LATEST
        )


def _scrape_registry(own: CollectorRegistry, engine: Engine) -> CollectorRegistry:
    """This worker's registry; with several workers (PROMETHEUS_MULTIPROC_DIR set) the sum of
    all workers' request metrics from their shared files, plus the database figures."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return own
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    merged.register(DatabaseCollector(engine))
    return merged
