"""Idempotency-Key handling: the same key and body replay the first answer; another body is 409.

The record is inserted *before* the work, in the same transaction: a concurrent twin with the
same key then waits on the unique index until the first commits, fails, and replays it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from backend.db import session_scope
from backend.errors import Conflict
from backend.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


@dataclass
class Reply:
    status_code: int
    body: Any
    replayed: bool = False


def digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run(
    engine: Engine, scope: str, key: str | None, payload: Any, work: Callable[[Session], Reply]
) -> Reply:
    """Run `work` in one transaction, at most once per (scope, key)."""
    if key is None:
        with session_scope(engine) as session:
            return work(session)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Conflict(f"an Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters")
    request_digest = digest(payload)
    for _ in range(3):
        replay = _replay(engine, scope, key, request_digest)
        if replay is not None:
            return replay
        try:
            with session_scope(engine) as session:
                record = IdempotencyRecord(
                    scope=scope,
                    key=key,
                    request_digest=request_digest,
                    status_code=0,
                    response_json="",
                )
                session.add(record)
                session.flush()
                reply = work(session)
                record.status_code = reply.status_code
                record.response_json = json.dumps(reply.body, default=str)
                session.add(record)
                return reply
        except IntegrityError:
            continue  # a twin committed first: replay its answer
    raise Conflict(
        "the request is being processed by another call with the same Idempotency-Key; retry"
    )


def _replay(engine: Engine, scope: str, key: str, request_digest: str) -> Reply | None:
    with Session(engine) as session:
        record = session.get(IdempotencyRecord, (scope, key))
        if record is None:
            return None
        if record.request_digest != request_digest:
            raise Conflict("this Idempotency-Key was used with a different request")
        return Reply(record.status_code, json.loads(record.response_json), replayed=True)
