"""Sign-in limits shared by every worker, kept in the database.

Each attempt is written as `pending` (in a short transaction of its own, committed) *before*
the password is checked, and marked `ok` or `failed` after. A new attempt is refused with
429 `too_many_attempts`, without checking its password, when in the last minute
- the account name has `account_per_minute` attempts that failed or are still in flight, or
- the client address has `client_per_minute` such attempts;
and with 429 `account_locked` when the account name has `lockout_failures` failed attempts
within `lockout_minutes` (until the window passes, or an admin unlocks it with
`nongbao user unlock NAME` / POST /api/v1/users/{name}/unlock).

Counting attempts still in flight is what bounds parallel guessing: 32 simultaneous wrong
passwords are 32 reservations, of which only the first few are let through to be checked.
Successful sign-ins do not count against a client, so an office behind one address is not
stopped by its own staff. Unknown account names are counted and locked exactly like real
ones, so the answers do not tell which names exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend import clock
from backend.config import Settings
from backend.db import session_scope
from backend.errors import TooManyRequests
from backend.models import AppUser, LoginAttempt
from backend.services import auth

MINUTE = timedelta(seconds=60)
KEEP = timedelta(days=1)  # attempts are kept this long (for the operator's eyes), then pruned
_LOCK_KEY = 0x6E6267_4C4F47  # pg advisory lock: one reservation at a time ("nbg" "LOG")


@dataclass(frozen=True)
class LoginLimits:
    client_per_minute: int = 10
    account_per_minute: int = 5
    lockout_failures: int = 10
    lockout_minutes: int = 15

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            client_per_minute=settings.login_attempts_per_minute,
            account_per_minute=settings.login_account_attempts_per_minute,
            lockout_failures=settings.login_lockout_failures,
            lockout_minutes=settings.login_lockout_minutes,
        )


def account_key(username: str) -> str:
    return username.strip()[:64]


def sign_in(
    engine: Engine, limits: LoginLimits, username: str, password: str, client: str
) -> AppUser:
    """The user, if the name and password are right and no limit stands in the way; else
    Unauthorized (wrong name or password) or TooManyRequests (nothing was checked)."""
    attempt = reserve(engine, limits, username, client)
    ok = False
    try:
        with Session(engine, expire_on_commit=False) as s:  # a short read, no lock held
            user = auth.find_user(s, username)
        checked = auth.verify_password(user, password)  # slow on purpose: outside any transaction
        ok = True
        return checked
    finally:
        finish(engine, attempt, ok)


def reserve(
    engine: Engine, limits: LoginLimits, username: str, client: str, now: datetime | None = None
) -> int:
    """Write a pending attempt, or refuse one that a limit forbids (then nothing is written)."""
    name = account_key(username)
    with session_scope(engine) as s:
        _serialize(s)
        now = now or clock.now()  # read once the lock is held: no later attempt is stamped earlier
        _refuse_if_locked(s, limits, name, now)
        counted = _counted(now - MINUTE)
        by_account = s.exec(counted.where(LoginAttempt.username == name)).all()
        if len(by_account) >= limits.account_per_minute:
            raise _too_many("this account", by_account, limits.account_per_minute, now)
        by_client = s.exec(counted.where(LoginAttempt.client == client[:64])).all()
        if len(by_client) >= limits.client_per_minute:
            raise _too_many("this address", by_client, limits.client_per_minute, now)
        attempt = LoginAttempt(username=name, client=client[:64], started_at=now)
        s.add(attempt)
        s.flush()
        s.exec(sa.delete(LoginAttempt).where(col(LoginAttempt.started_at) < now - KEEP))
        assert attempt.id is not None
        return attempt.id


def finish(engine: Engine, attempt_id: int, ok: bool) -> None:
    with session_scope(engine) as s:
        s.exec(
            sa.update(LoginAttempt)
            .where(col(LoginAttempt.id) == attempt_id)
            .values(outcome="ok" if ok else "failed")
        )


def unlock(session: Session, username: str) -> int:
    """Lift an account's lockout and its per-minute count: its attempts so far stop counting.
    Returns how many attempts were cleared."""
    result = session.exec(
        sa.update(LoginAttempt)
        .where(col(LoginAttempt.username) == account_key(username))
        .where(col(LoginAttempt.cleared).is_(False))
        .values(cleared=True)
    )
    return int(result.rowcount or 0)


def _serialize(session: Session) -> None:
    # SQLite: every transaction begins IMMEDIATE (backend/db.py): one writer at a time, from
    # the moment the connection is taken; PostgreSQL: count-then-insert would race under
    # READ COMMITTED without this lock
    session.connection()
    if session.get_bind().dialect.name == "postgresql":
        session.exec(sa.text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY))  # type: ignore[call-overload]


def _counted(since: datetime):  # type: ignore[no-untyped-def]
    """Attempts that count against a limit: failed or in flight, since `since`, not cleared."""
    return (
        select(LoginAttempt.started_at)
        .where(col(LoginAttempt.started_at) > since)
        .where(LoginAttempt.outcome != "ok")
        .where(col(LoginAttempt.cleared).is_(False))
        .order_by(col(LoginAttempt.started_at))
    )


def _refuse_if_locked(session: Session, limits: LoginLimits, name: str, now: datetime) -> None:
    window = timedelta(minutes=limits.lockout_minutes)
    failures = session.exec(
        _counted(now - window)
        .where(LoginAttempt.username == name)
        .where(LoginAttempt.outcome == "failed")
    ).all()
    if len(failures) >= limits.lockout_failures:
        # the lock lifts when enough of these failures have left the window
        lifts_at = _utc(failures[len(failures) - limits.lockout_failures]) + window
        raise TooManyRequests(
            f"this account is locked after {limits.lockout_failures} failed sign-ins within "
            f"{limits.lockout_minutes} minutes: wait, or ask an administrator to unlock it",
            retry_after=_seconds(lifts_at - now),
            code="account_locked",
        )


def _too_many(who: str, started: list[datetime], limit: int, now: datetime) -> TooManyRequests:
    frees_at = _utc(started[len(started) - limit]) + MINUTE
    return TooManyRequests(
        f"too many sign-in attempts for {who}: wait a minute and try again",
        retry_after=_seconds(frees_at - now),
    )


def _utc(at: datetime) -> datetime:
    # SQLite gives back naive datetimes; every stored instant is UTC
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))  # TooManyRequests keeps it at least 1
