"""Request-scoped dependencies: the unit of work, the caller, role checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from fastapi import Depends, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import Scope

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
# declares the bearer scheme in the OpenAPI; the header itself is read by `bearer_token`
bearer_scheme = HTTPBearer(auto_error=False)


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


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, the scheme in any letter case
    (RFC 9110: schemes are case-insensitive) and any spacing: the one reading of the header
    for authentication and for every limit, so that a spelling cannot be a new caller."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def scope_headers(scope: Scope) -> dict[str, str]:
    """An ASGI scope's headers by lower-case name (the first of repeated ones, as Starlette's
    `request.headers.get` reads them: the limits and the authentication see the same one)."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return headers


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """NONGBAO_TRUSTED_PROXIES parsed: addresses and networks, comma-separated."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in setting.split(",") if p.strip()
    )


def _trusted(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return False
    return any(address in n for n in networks)


def client_address(scope: Scope, trusted_proxies: str) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most X-Forwarded-For entry that is not itself a trusted proxy (what uvicorn does
    with the same list, so the answer is the same whether or not uvicorn rewrote it first).
    A header from anyone else is ignored: a rotating X-Forwarded-For is still one client."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    networks = trusted_networks(trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer[:64]
    forwarded = [
        part.strip()
        for name, value in scope.get("headers", [])
        if name.lower() == b"x-forwarded-for"
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]
    for hop in reversed(forwarded):
        if not _trusted(hop, networks):
            return hop[:64]
    return (forwarded[0] if forwarded else peer)[:64]


def request_client(request: Request) -> str:
    return client_address(request.scope, state(request).settings.trusted_proxies)


# who acts on the public routes that sign a family phone in (the audit trail names it)
ANONYMOUS = Actor(kind="public", name="family-sign-in", role="public")


def optional_actor(
    request: Request,
    db: Session = DbSession,
    _doc: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> Actor | None:
    """Who calls, if anyone (an invalid token is refused). Looked up once per request, in the
    request's own unit of work: a second session would cost a balance read a connection
    checkout, a ping and a rollback of its own (a plain read takes no lock that matters)."""
    who = caller(request, db)
    if who is not None and db.get_bind().dialect.name == "sqlite":
        # a SQLite transaction holds the database's write lock (BEGIN IMMEDIATE, backend/db.py):
        # end it, so that a route that opens a unit of work of its own does not wait on it
        db.commit()
    return who


def caller(request: Request, db: Session) -> Actor | None:
    """The caller of a bearer token, read in `db`, or None without a token; an invalid,
    expired or revoked token is refused (401). `optional_actor` is this as a dependency."""
    token = bearer_token(request.headers)
    if token is None:
        return None
    who = auth.actor_from_token(db, state(request).keyring, token)
    request.state.log_actor = log_label(who)  # the request log names who, without a 2nd decode
    return who


def log_label(who: Actor) -> str:
    """Who called, as the request log names them: a user and role, or "device"."""
    return "device" if who.kind == "device" else f"user:{who.name}({who.role})"


# `async def`: these two do no I/O, and a plain `def` dependency costs a trip through the
# thread pool on every request
async def actor(who: Actor | None = Depends(optional_actor)) -> Actor:
    return _required(who)


def _required(who: Actor | None) -> Actor:
    if who is None:
        raise Unauthorized("a bearer token is required: sign in at /api/v1/auth/token")
    return who


def signed_in(request: Request, db: Session, roles: tuple[str, ...]) -> Actor:
    """`require(*roles)` inside a route's own unit of work, for a route that takes its
    session, its caller and its audit event in one trip through the thread pool."""
    who = _required(caller(request, db))
    auth.check_role(who, roles)
    return who


def require(*roles: str) -> Callable[..., Awaitable[Actor]]:
    async def check(who: Actor = Depends(actor)) -> Actor:
        auth.check_role(who, roles)
        return who

    return check


def ctx_for(request: Request, session: Session, who: Actor) -> Ctx:
    st = state(request)
    return Ctx(
        session=session,
        policy=st.policy,
        keyring=st.keyring,
        actor=who,
        today=st.today(),
        key_dir=st.settings.effective_key_file.parent,
    )


def write_event(request: Request, session: Session, who: Actor) -> None:
    """The route's audit event ("POST /api/v1/...", its path parameters), appended in
    `session`: the caller's own unit of work, so the event commits with what the route did,
    or not at all. The request is then marked so that `audit_reads_and_writes` does not add
    another event in a later transaction."""
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
