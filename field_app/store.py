"""The device's one SQLite file: the PIN-wrapped key, the signed-in session, the work list
and the outbox (outbox.py). Every personal value is sealed by the vault; in clear are
only ids made on the device, states, counters and times.

Durability: WAL journal with synchronous=FULL, and every write is its own committed
transaction, so a visit is on disk before the app says "saved" and a kill at any moment
leaves the last committed state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from field_app import vault as vlt
from field_app.client import Worklist

MAX_PIN_FAILURES = 5
OFFLINE_DAYS = 3  # how long the PIN alone opens the app after the last online sign-in

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    client_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    payload BLOB NOT NULL,
    label BLOB,
    result BLOB
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, next_attempt_at);
"""


@dataclass
class SignedIn:
    """The worker's session, sealed in `meta`."""

    username: str
    role: str
    base_url: str
    token: str
    token_expires_at: float
    online_at: float  # the last successful online sign-in

    def offline_until(self, days: int = OFFLINE_DAYS) -> float:
        return self.online_at + days * 86400


class Locked(Exception):
    """No PIN set yet, or wiped after too many wrong PINs: sign in online."""


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # autocommit mode: each statement commits unless we open a transaction ourselves
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(SCHEMA)
    return conn


class DeviceStore:
    def __init__(self, path: Path, *, cost: vlt.KdfCost = vlt.DEFAULT_COST) -> None:
        self.path = path
        self.cost = cost
        self.conn = connect(path)
        self.lock = threading.RLock()  # the UI thread and the sync thread share the connection

    def close(self) -> None:
        self.conn.close()

    # --- meta -------------------------------------------------------------------------------

    def _get(self, key: str) -> bytes | None:
        with self.lock:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _put(self, key: str, value: bytes) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _delete(self, *keys: str) -> None:
        with self.lock:
            self.conn.executemany("DELETE FROM meta WHERE key = ?", [(k,) for k in keys])

    # --- PIN --------------------------------------------------------------------------------

    def has_pin(self) -> bool:
        return self._get("wrapped_key") is not None

    def set_pin(self, pin: str, vault: vlt.Vault | None = None) -> vlt.Vault:
        """A new PIN wraps the existing data key (or a new one): the data stays readable."""
        if not vlt.valid_pin(pin):
            raise ValueError("a PIN is 4 to 8 digits")
        vault = vault or vlt.Vault.new()
        salt, wrapped = vlt.wrap(vault, pin, self.cost)
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self._put("salt", salt)
            self._put("wrapped_key", wrapped)
            self._put("pin_failures", b"0")
            self.conn.execute("COMMIT")
        return vault

    def unlock(self, pin: str) -> vlt.Vault:
        salt, wrapped = self._get("salt"), self._get("wrapped_key")
        if salt is None or wrapped is None:
            raise Locked("no PIN on this device: sign in online")
        try:
            vault = vlt.unwrap(pin, salt, wrapped, self.cost)
        except vlt.WrongPin:
            failures = int(self._get("pin_failures") or b"0") + 1
            self._put("pin_failures", str(failures).encode())
            if failures >= MAX_PIN_FAILURES:
                self.wipe(keep_outbox=True)
                raise Locked(
                    "too many wrong PINs: the cached data was wiped; sign in online"
                ) from None
            raise
        self._put("pin_failures", b"0")
        return vault

    def pin_failures(self) -> int:
        return int(self._get("pin_failures") or b"0")

    # --- sealed values ----------------------------------------------------------------------

    def put_sealed(self, vault: vlt.Vault, key: str, value: object) -> None:
        self._put(key, vault.seal(json.dumps(value, ensure_ascii=False).encode(), key.encode()))

    def get_sealed(self, vault: vlt.Vault, key: str) -> object | None:
        blob = self._get(key)
        return None if blob is None else json.loads(vault.open(blob, key.encode()))

    def save_session(self, vault: vlt.Vault, session: SignedIn) -> None:
        self.put_sealed(vault, "session", asdict(session))

    def session(self, vault: vlt.Vault) -> SignedIn | None:
        raw = self.get_sealed(vault, "session")
        return SignedIn(**raw) if isinstance(raw, dict) else None

    def save_worklist(self, vault: vlt.Vault, worklist: Worklist) -> None:
        self.put_sealed(vault, "worklist", worklist.model_dump(mode="json"))

    def worklist(self, vault: vlt.Vault) -> Worklist | None:
        raw = self.get_sealed(vault, "worklist")
        return None if raw is None else Worklist.model_validate(raw)

    # --- wiping -----------------------------------------------------------------------------

    def unsent(self) -> int:
        with self.lock:
            return int(
                self.conn.execute(
                    "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"
                ).fetchone()[0]
            )

    def wipe(self, *, keep_outbox: bool) -> None:
        """Sign-out: the session and the work list go. Unsent visits stay (sealed) unless
        the worker chose to discard them: they are someone's proof of life."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM meta WHERE key IN ('session', 'worklist')")
            if keep_outbox:
                self.conn.execute("DELETE FROM outbox WHERE state IN ('done', 'failed')")
            else:
                self.conn.execute("DELETE FROM outbox")
                self.conn.execute("DELETE FROM meta")
            self.conn.execute("COMMIT")
            # overwrite freed pages and fold the WAL back, so old ciphertext does not linger
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("VACUUM")
