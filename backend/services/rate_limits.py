"""Requests per caller per minute, counted in the database so that every worker counts the
same requests: certification submissions and kiosk resident sessions (a kiosk serves one
resident at a time; a burst means a script).

The caller is the token's subject (the device, or the signed-in user), not the header's
spelling: `bearer`, `BEARER` or a second token of the same user are the same caller.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend import clock
from backend.crypto import Keyring
from backend.db import session_scope
from backend.errors import TooManyRequests
from backend.models import RateHit
from backend.services import auth

WINDOW = timedelta(seconds=60)


def hit(
    engine: Engine,
    keyring: Keyring,
    bucket: str,
    token: str,
    limit: int,
    now: datetime | None = None,
) -> None:
    """Count one request of `bucket` by the token's subject, or refuse it (429) when the
    subject already made `limit` in the last minute. An invalid token is not counted: the
    route refuses it anyway (401)."""
    with session_scope(engine) as s:
        subject = auth.token_subject(s, keyring, token)
        if subject is None:
            return
        _serialize(s, f"{bucket}|{subject}")
        now = now or clock.now()  # read once the lock is held: no later hit is stamped earlier
        recent = s.exec(
            select(RateHit.at)
            .where(RateHit.bucket == bucket, RateHit.subject == subject)
            .where(col(RateHit.at) > now - WINDOW)
            .order_by(col(RateHit.at))
        ).all()
        if len(recent) >= limit:
            frees_at = _utc(recent[len(recent) - limit]) + WINDOW
            raise TooManyRequests(
                f"more than {limit} requests a minute from this caller: wait and try again",
                retry_after=max(1, math.ceil((frees_at - now).total_seconds())),
            )
        s.add(RateHit(bucket=bucket, subject=subject[:80], at=now))
        s.exec(
            sa.delete(RateHit)
            .where(col(RateHit.bucket) == bucket, col(RateHit.subject) == subject)
            .where(col(RateHit.at) <= now - WINDOW)
        )


def _serialize(session: Session, key: str) -> None:
    # SQLite: transactions begin IMMEDIATE (one writer at a time); PostgreSQL: one lock per
    # caller and bucket, so two workers cannot both count 29 and both let the 30th through
    if session.get_bind().dialect.name == "postgresql":
        k = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.exec(sa.text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=k))  # type: ignore[call-overload]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
