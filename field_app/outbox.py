"""The outbox: every visit, written to SQLite before anything else happens to it.

States: pending -> sending -> done | failed. `sending` is committed before the request
goes out, so a kill mid-request leaves a visit in `sending`; on the next start it is sent
again with the same client id (the backend's idempotency key): the backend answers with
the first result instead of recording it twice. `failed` means the backend refused it for
good (the reason is kept, in plain words); a network failure only reschedules.

The payload (who, the photos, the liveness evidence, location, note) and the backend's
answer are sealed with the vault; kind, state, counters and times are in clear so the sync
can work without decrypting what it does not send.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from field_app.store import DeviceStore
from field_app.vault import Vault

Kind = Literal["certification", "not_at_home", "reported_dead"]
State = Literal["pending", "sending", "done", "failed"]


@dataclass
class Visit:
    """A visit as the app made it. `files` are the face image(s), liveness sample frames
    and document photos, as bytes."""

    kind: Kind
    person_id: str
    fields: dict[str, Any]
    images: list[bytes] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    documents: list[bytes] = field(default_factory=list)
    preliminary: dict[str, Any] | None = None  # the device's own guess, shown until the answer

    def to_json(self) -> bytes:
        enc = {
            k: [base64.b64encode(b).decode() for b in getattr(self, k)]
            for k in ("images", "frames", "documents")
        }
        return json.dumps(
            {
                "kind": self.kind,
                "person_id": self.person_id,
                "fields": self.fields,
                "preliminary": self.preliminary,
                **enc,
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Visit:
        d = json.loads(raw)
        files = {
            k: [base64.b64decode(s) for s in d.get(k, [])]
            for k in ("images", "frames", "documents")
        }
        return cls(
            kind=d["kind"],
            person_id=d["person_id"],
            fields=d["fields"],
            preliminary=d.get("preliminary"),
            **files,
        )


@dataclass
class Entry:
    client_id: str
    kind: Kind
    state: State
    attempts: int
    next_attempt_at: float
    created_at: float
    updated_at: float
    visit: Visit | None = None  # opened only when asked
    result: dict[str, Any] | None = None  # the backend's decision, or the refusal explained
    label: dict[str, Any] = field(
        default_factory=dict
    )  # who, for the outbox screen (small to open)


class Outbox:
    def __init__(self, store: DeviceStore, vault: Vault, clock: Callable[[], float]) -> None:
        self.store = store
        self.vault = vault
        self.clock = clock

    @property
    def _db(self) -> sqlite3.Connection:
        return self.store.conn

    def add(
        self, visit: Visit, client_id: str | None = None, label: dict[str, Any] | None = None
    ) -> str:
        """Commit the visit; only then may anything else (UI, sync) see it."""
        cid = client_id or str(uuid.uuid4())
        now = self.clock()
        sealed = self.vault.seal(visit.to_json(), cid.encode())
        tag = self.vault.seal(
            json.dumps(
                {"person_id": visit.person_id, **(label or {})}, ensure_ascii=False
            ).encode(),
            b"label:" + cid.encode(),
        )
        with self.store.lock:
            self._db.execute(
                "INSERT INTO outbox (client_id, kind, state, attempts, next_attempt_at, created_at, updated_at, payload, label) VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?)",
                (cid, visit.kind, now, now, now, sealed, tag),
            )
        return cid

    def get(self, client_id: str, *, open_visit: bool = False) -> Entry:
        with self.store.lock:
            row = self._db.execute(
                "SELECT client_id, kind, state, attempts, next_attempt_at, created_at, updated_at, payload, label, result FROM outbox WHERE client_id = ?",
                (client_id,),
            ).fetchone()
        if row is None:
            raise KeyError(client_id)
        return self._entry(row, open_visit)

    def entries(self, *, open_visits: bool = False) -> list[Entry]:
        with self.store.lock:
            rows = self._db.execute(
                "SELECT client_id, kind, state, attempts, next_attempt_at, created_at, updated_at, payload, label, result FROM outbox ORDER BY created_at, rowid"
            ).fetchall()
        return [self._entry(r, open_visits) for r in rows]

    def due(self, now: float) -> list[str]:
        """Visits to send now, oldest first; `sending` ones were interrupted: resume them."""
        with self.store.lock:
            rows = self._db.execute(
                "SELECT client_id FROM outbox WHERE state IN ('pending', 'sending') AND next_attempt_at <= ? ORDER BY created_at, rowid",
                (now,),
            ).fetchall()
        return [r[0] for r in rows]

    def next_due_at(self) -> float | None:
        with self.store.lock:
            row = self._db.execute(
                "SELECT min(next_attempt_at) FROM outbox WHERE state IN ('pending', 'sending')"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def counts(self) -> dict[str, int]:
        with self.store.lock:
            rows = self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
        return {"pending": 0, "sending": 0, "done": 0, "failed": 0, **{s: int(n) for s, n in rows}}

    # --- transitions, each one committed ------------------------------------------------------

    def mark_sending(self, client_id: str) -> int:
        """Returns the attempt number now starting."""
        with self.store.lock:
            self._db.execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE client_id = ? AND state IN ('pending', 'sending')",
                (self.clock(), client_id),
            )
            return int(
                self._db.execute(
                    "SELECT attempts FROM outbox WHERE client_id = ?", (client_id,)
                ).fetchone()[0]
            )

    def retry_later(self, client_id: str, at: float, error: str) -> None:
        self._finish(client_id, "pending", {"last_error": error}, next_attempt_at=at)

    def mark_done(self, client_id: str, result: dict[str, Any]) -> None:
        self._finish(client_id, "done", result)

    def mark_failed(self, client_id: str, result: dict[str, Any]) -> None:
        self._finish(client_id, "failed", result)

    def _finish(
        self,
        client_id: str,
        state: State,
        result: dict[str, Any],
        next_attempt_at: float | None = None,
    ) -> None:
        sealed = self.vault.seal(
            json.dumps(result, ensure_ascii=False).encode(), b"result:" + client_id.encode()
        )
        with self.store.lock:
            self._db.execute(
                "UPDATE outbox SET state = ?, result = ?, updated_at = ?, next_attempt_at = coalesce(?, next_attempt_at) WHERE client_id = ?",
                (state, sealed, self.clock(), next_attempt_at, client_id),
            )

    def _entry(self, row: tuple[Any, ...], open_visit: bool) -> Entry:
        cid, kind, state, attempts, next_at, created, updated, payload, label, result = row
        return Entry(
            client_id=cid,
            kind=kind,
            state=state,
            attempts=attempts,
            next_attempt_at=next_at,
            created_at=created,
            updated_at=updated,
            visit=Visit.from_json(self.vault.open(bytes(payload), cid.encode()))
            if open_visit
            else None,
            result=json.loads(self.vault.open(bytes(result), b"result:" + cid.encode()))
            if result is not None
            else None,
            label=json.loads(self.vault.open(bytes(label), b"label:" + cid.encode()))
            if label is not None
            else {},
        )
