"""Rate limits in front of the routes that a script would flood: certification submissions
and kiosk resident sessions, per caller (the token's device or user) per minute, counted in
the database by every worker alike (backend/services/rate_limits.py). A middleware, so that a
refused request is answered before its upload is read.

Sign-in has its own limits, per account and per client address, with a lockout
(backend/services/login_limits.py): they need the account name from the form.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.api.deps import bearer_token, scope_headers
from backend.api.problems import problem
from backend.crypto import Keyring
from backend.errors import TooManyRequests
from backend.services import rate_limits


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    limit: int
    bucket: str


class RateLimit:
    def __init__(
        self, app: ASGIApp, *, rules: list[Rule], engine: Engine, keyring: Keyring
    ) -> None:
        self.app, self.rules, self.engine, self.keyring = app, rules, engine, keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule_for(scope)
        token = bearer_token(scope_headers(scope)) if rule else None
        if rule is None or token is None:  # no token: the route refuses it (401)
            await self.app(scope, receive, send)
            return
        try:
            await run_in_threadpool(
                rate_limits.hit, self.engine, self.keyring, rule.bucket, token, rule.limit
            )
        except TooManyRequests as exc:
            response = problem(
                429,
                exc.detail,
                type_=exc.type,
                code=exc.code,
                headers={"Retry-After": str(exc.retry_after)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _rule_for(self, scope: Scope) -> Rule | None:
        if scope["type"] != "http":
            return None
        return next(
            (r for r in self.rules if r.method == scope["method"] and r.path == scope["path"]), None
        )


def default_rules(per_minute: int) -> list[Rule]:
    return [
        Rule("POST", "/api/v1/certifications", per_minute, "certifications"),
        Rule("POST", "/api/v1/kiosk/sessions", per_minute, "kiosk_sessions"),
    ]
