"""Rate limits in front of the routes that guess-and-retry attacks aim at.

- sign-in (API and console): failed attempts per client address per minute
  (settings.login_attempts_per_minute); successful sign-ins are not counted, so an office
  behind one address is not locked out by its own staff;
- certification submissions and kiosk resident sessions: requests per caller token per
  minute (a kiosk serves one resident at a time; a burst means a script).

In-memory, per worker process: a bound on speed, not an account lockout (the per-card daily
failure limit in the database is the hard limit for face attempts).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    limit: int
    key: str  # "address" | "token"
    count_only_failures: bool = False


class Window:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def full(self, key: str, limit: int, now: float) -> bool:
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - WINDOW_SECONDS:
                hits.popleft()
            return len(hits) >= limit

    def add(self, key: str, now: float) -> None:
        with self._lock:
            self._hits[key].append(now)


class RateLimit:
    def __init__(self, app: ASGIApp, *, rules: list[Rule]) -> None:
        self.app, self.rules, self.window = app, rules, Window()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule_for(scope)
        if rule is None:
            await self.app(scope, receive, send)
            return
        key = f"{rule.path}|{self._key(scope, rule)}"
        now = time.monotonic()
        if self.window.full(key, rule.limit, now):
            await _too_many(send)
            return
        if not rule.count_only_failures:
            self.window.add(key, now)
            await self.app(scope, receive, send)
            return

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                self.window.add(key, time.monotonic())
            await send(message)

        await self.app(scope, receive, watch)

    def _rule_for(self, scope: Scope) -> Rule | None:
        if scope["type"] != "http":
            return None
        return next(
            (r for r in self.rules if r.method == scope["method"] and r.path == scope["path"]), None
        )

    @staticmethod
    def _key(scope: Scope, rule: Rule) -> str:
        if rule.key == "token":
            auth = dict(scope.get("headers") or []).get(b"authorization", b"")
            return hashlib.sha256(auth).hexdigest()
        client = scope.get("client")
        return client[0] if client else "unknown"


async def _too_many(send: Send) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Too many requests",
            "status": 429,
            "detail": "too many attempts: wait a minute and try again",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"retry-after", b"60"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def default_rules(login_per_minute: int) -> list[Rule]:
    return [
        Rule("POST", "/api/v1/auth/token", login_per_minute, "address", count_only_failures=True),
        Rule("POST", "/console/login", login_per_minute, "address", count_only_failures=True),
        Rule("POST", "/api/v1/certifications", 30, "token"),
        Rule("POST", "/api/v1/kiosk/sessions", 30, "token"),
    ]
