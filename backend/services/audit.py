"""The audit trail: an append-only, hash-chained log of who did what to whom.

Each event's hash is sha256(prev_hash + canonical JSON of the event), so editing any stored
field, or deleting a row in the middle, breaks the chain at that point (`nongbao audit
verify`). Appends are serialised (a PostgreSQL transaction-level advisory lock; SQLite
transactions are already BEGIN IMMEDIATE), so two concurrent requests never fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from backend.models import AuditEvent, utcnow
from backend.services.context import Actor, Ctx

GENESIS = "0" * 64
_LOCK_KEY = 0x4E42_4155  # "NBAU": one advisory lock for the whole chain
_BATCH = 2000
_RECORDED = "nongbao.audited"  # session.info key: this unit of work holds an event


def digest(value: Any) -> str:
    """A fingerprint of a before/after state (never the personal data itself)."""
    if value is None:
        return ""
    return hashlib.sha256(
        json.dumps(value, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


def _when(at: datetime) -> str:
    # SQLite gives back naive datetimes: both are read as UTC so the hash is stable
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(e: AuditEvent) -> str:
    body = {
        "id": e.id,
        "at": _when(e.at),
        "actor": e.actor,
        "role": e.role,
        "device_id": e.device_id,
        "action": e.action,
        "subject": e.subject,
        "before": e.before_digest,
        "after": e.after_digest,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def chain_hash(prev_hash: str, e: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical(e)).encode()).hexdigest()


def _lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_LOCK_KEY))  # type: ignore[call-overload]  # sqlmodel types exec() for select() only


def append(
    session: Session,
    actor: Actor,
    action: str,
    subject: str = "",
    *,
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    _lock_chain(session)
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
    prev = last.hash if last else GENESIS
    event = AuditEvent(
        at=utcnow(),
        actor=actor.label[:80],
        role=actor.role[:20],
        device_id=actor.device_id,
        action=action[:80],
        subject=subject[:80],
        before_digest=digest(before),
        after_digest=digest(after),
        prev_hash=prev,
        hash="",
    )
    session.add(event)
    session.flush()  # the id is part of the hashed content
    event.hash = chain_hash(prev, event)
    session.add(event)
    session.flush()
    session.info[_RECORDED] = True
    return event


def recorded_in(session: Session) -> bool:
    """Whether an event was appended in this session (a route-level read event is then not
    needed: the service recorded a richer one)."""
    return bool(session.info.get(_RECORDED))


def record(
    ctx: Ctx, action: str, subject: str = "", *, before: Any = None, after: Any = None
) -> AuditEvent:
    return append(ctx.session, ctx.actor, action, subject, before=before, after=after)


@dataclass
class ChainCheck:
    events: int = 0
    head: str = GENESIS
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session) -> ChainCheck:
    """Walk the chain in id order; report every event whose link or content does not hold."""
    check = ChainCheck()
    prev = GENESIS
    for e in _all(session):
        check.events += 1
        if e.prev_hash != prev:
            check.problems.append(
                {"id": e.id, "problem": "broken link: an earlier event was deleted or changed"}
            )
        if chain_hash(e.prev_hash, e) != e.hash:
            check.problems.append({"id": e.id, "problem": "content changed after it was written"})
        prev = e.hash
    check.head = prev
    return check


def _all(session: Session) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.id) > after)
            .order_by(col(AuditEvent.id))
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id or after
