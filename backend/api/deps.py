"""Request-scoped dependencies: the unit of work, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend import clock
from backend.config import Settings
from backend.crypto import Keyring
from backend.db import session_scope
from backend.errors import Unauthorized
from backend.policy import Policy
from backend.services import audit, auth, idempotency
from backend.services.context import Actor, Ctx
from backend.services.idempotency import Reply

STAFF = ("admin", "clerk", "reviewer", "field_worker", "auditor")
_bearer = HTTPBearer(auto_error=False)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    policy: Policy
    keyring: Keyring
    today: Callable[[], date] = clock.today


def state(request: Request) -> AppState:
    return request.app.state.nongbao


def session(request: Request) -> Iterator[Session]:
    with session_scope(state(request).engine) as s:
        yield s


# The request's unit of work, committed when the route returns and before the response is
# sent: a client never reads ahead of its own write.
DbSession = Depends(session, scope="function")


def optional_actor(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Actor | None:
    """Who calls, if anyone (an invalid token is refused). Looked up once per request, in a
    short session of its own, so that it never holds a lock while the route works."""
    if creds is None or not creds.credentials:
        return None
    st = state(request)
    with Session(st.engine) as s:
        return auth.actor_from_token(s, st.keyring, creds.credentials)


def actor(who: Actor | None = Depends(optional_actor)) -> Actor:
    if who is None:
        raise Unauthorized("a bearer token is required: sign in at /api/v1/auth/token")
    return who


def require(*roles: str) -> Callable[..., Actor]:
    def check(who: Actor = Depends(actor)) -> Actor:
        auth.check_role(who, roles)
        return who

    return check


def ctx_for(request: Request, session: Session, who: Actor) -> Ctx:
    st = state(request)
    return Ctx(session=session, policy=st.policy, keyring=st.keyring, actor=who, today=st.today())


def write_event(request: Request, session: Session, who: Actor) -> None:
    """The route's audit event ("POST /api/v1/...", its path parameters), appended in
    `session`: the caller's own unit of work, so the event commits with what the route did,
    or not at all. The request is then marked so that `audit_writes` does not add another
    event in a later transaction."""
    subject = ",".join(str(v) for v in request.path_params.values())
    audit.append(session, who, f"{request.method} {request.url.path}"[:80], subject)
    request.state.audited = True


def idempotent(
    request: Request,
    scope: str,
    key: str | None,
    payload: object,
    work: Callable[[Session], Reply],
    *,
    audit_as: Actor | None = None,
) -> JSONResponse:
    """Run a write at most once per (scope, key) and answer it; a replay says so in a header.

    With `audit_as`, the route's audit event is written inside the work's transaction, beside
    the postings and the idempotency record: a crash between them leaves neither (a money
    movement is never committed without its event)."""
    run_work = work if audit_as is None else _with_event(request, work, audit_as)
    reply = idempotency.run(state(request).engine, scope, key, payload, run_work)
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else None
    return JSONResponse(reply.body, status_code=reply.status_code, headers=headers)


def _with_event(
    request: Request, work: Callable[[Session], Reply], who: Actor
) -> Callable[[Session], Reply]:
    def audited(session: Session) -> Reply:
        reply = work(session)
        write_event(request, session, who)
        return reply

    return audited
