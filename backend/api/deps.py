"""Request-scoped dependencies: the unit of work, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.config import Settings
from backend.crypto import Keyring
from backend.db import session_scope
from backend.errors import Unauthorized
from backend.policy import Policy
from backend.services import auth
from backend.services.context import Actor, Ctx

STAFF = ("admin", "clerk", "reviewer", "field_worker", "auditor")
_bearer = HTTPBearer(auto_error=False)


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    policy: Policy
    keyring: Keyring
    today: Callable[[], date] = date.today


def state(request: Request) -> AppState:
    return request.app.state.nongbao


def session(request: Request) -> Iterator[Session]:
    with session_scope(state(request).engine) as s:
        yield s


def actor(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Actor:
    if creds is None or not creds.credentials:
        raise Unauthorized("a bearer token is required: sign in at /api/v1/auth/token")
    st = state(request)
    with Session(st.engine) as s:
        return auth.actor_from_token(s, st.keyring, creds.credentials)


def require(*roles: str) -> Callable[..., Actor]:
    def check(who: Actor = Depends(actor)) -> Actor:
        auth.check_role(who, roles)
        return who

    return check


def ctx_for(request: Request, session: Session, who: Actor) -> Ctx:
    st = state(request)
    return Ctx(session=session, policy=st.policy, keyring=st.keyring, actor=who, today=st.today())
