"""The audit trail: an append-only log of who did what to whom, sealed in signed batches.

Appending takes no lock: an event is inserted with its id (a database sequence) and its own
RFC 6962 leaf hash, in the request's transaction, so concurrent requests never wait for each
other. The sealer (`seal`: a background thread of `nongbao serve`, and `nongbao audit seal`)
takes the events not yet sealed in id order, gives them their place in the sealed log (`seq`,
1, 2, ... without gaps), chains them event by event (prev_hash/hash, as before), and signs a
head over the batch, as Certificate Transparency's signed tree heads do: the Merkle tree hash
of the batch's leaves, its size and the hash of the batch head before. Each head is stored in
`audit_batch` and appended to a head file outside the database (and exported with `nongbao
audit heads`), so editing an event and recomputing every hash, deleting events, or deleting
the newest batches is found by `verify`: the county's key signed what was there. Events not yet
sealed are checked by their leaf hashes and by gaps in their ids (docs/audit.md: the window).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend import receipts
from backend.models import AuditBatch, AuditEvent, utcnow
from backend.services.context import Actor, Ctx

GENESIS = "0" * 64
_SEALER_LOCK = 0x4E42_5345  # "NBSE": one sealer at a time (requests never take it)
_BATCH = 2000
_SEAL_LIMIT = 50_000  # events per batch at most: a backlog is sealed in several batches
_SETTLE_SECONDS = 5.0  # verify waits this long at most for requests in flight before a gap counts
_RECORDED = "nongbao.audited"  # session.info key: this unit of work holds an event
log = logging.getLogger("nongbao.audit")


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


# the hashed columns of an event, besides its id
_COLUMNS = (
    "at",
    "actor",
    "role",
    "device_id",
    "action",
    "subject",
    "before_digest",
    "after_digest",
)


def canonical(e: AuditEvent) -> str:
    return _canonical(e.id, {c: getattr(e, c) for c in _COLUMNS})


def _canonical(event_id: int | None, row: Mapping[Any, Any]) -> str:
    body = {
        "id": event_id,
        "at": _when(row["at"]),
        "actor": row["actor"],
        "role": row["role"],
        "device_id": row["device_id"],
        "action": row["action"],
        "subject": row["subject"],
        "before": row["before_digest"],
        "after": row["after_digest"],
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def chain_hash(prev_hash: str, e: AuditEvent) -> str:
    return _chain(prev_hash, canonical(e))


def _chain(prev_hash: str, entry: str) -> str:
    return hashlib.sha256((prev_hash + entry).encode()).hexdigest()


def leaf_hash(e: AuditEvent) -> str:
    return _leaf(canonical(e))


def _leaf(entry: str) -> str:
    """RFC 6962 section 2.1: MTH of one entry is SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry.encode()).hexdigest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash over leaf hashes: split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


_EVENTS = AuditEvent.__table__
# built once: every staff read appends an event, and building and hashing a statement per call
# cost a balance read as much as its own queries
_INSERT = sa.insert(_EVENTS).returning(_EVENTS.c.id)
_SET_LEAF = (
    sa.update(_EVENTS)
    .where(_EVENTS.c.id == sa.bindparam("event_id"))
    .values(leaf_hash=sa.bindparam("leaf"))
)


def append(
    session: Session,
    actor: Actor,
    action: str,
    subject: str = "",
    *,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one event in `session`'s transaction; its id. Two Core statements, not the ORM's
    unit of work: the id (the sequence's) is part of the hashed content, so the leaf hash is
    set once the id is known."""
    row = {
        "at": utcnow(),
        "actor": actor.label[:80],
        "role": actor.role[:20],
        "device_id": actor.device_id,
        "action": action[:80],
        "subject": subject[:80],
        "before_digest": digest(before),
        "after_digest": digest(after),
    }
    event_id = int(session.execute(_INSERT, row).scalar_one())
    leaf = _leaf(_canonical(event_id, row))
    session.execute(_SET_LEAF, {"event_id": event_id, "leaf": leaf})
    session.info[_RECORDED] = True
    return event_id


def recorded_in(session: Session) -> bool:
    """Whether an event was appended in this session (a route-level read event is then not
    needed: the service recorded a richer one)."""
    return bool(session.info.get(_RECORDED))


def record(
    ctx: Ctx, action: str, subject: str = "", *, before: Any = None, after: Any = None
) -> int:
    return append(ctx.session, ctx.actor, action, subject, before=before, after=after)


# --- signed heads and the head file --------------------------------------------------------


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def head_hash(line: str) -> str:
    return hashlib.sha256(line.encode()).hexdigest()


@dataclass
class HeadLog:
    """The append-only head file and the county's Ed25519 key (the receipts' signing key)."""

    path: Path
    key_dir: Path

    @classmethod
    def from_settings(cls) -> HeadLog:
        from backend.config import get_settings

        s = get_settings()
        return cls(s.effective_audit_head_file, s.effective_key_file.parent)

    def signer(self) -> Ed25519PrivateKey:
        return receipts.load_or_create_signing_key(self.key_dir)

    def public_key(self) -> Ed25519PublicKey | None:
        pub = self.key_dir / receipts.PUBLIC_KEY_FILE
        if pub.exists():
            return receipts.load_public_key(pub.read_bytes())
        if (self.key_dir / receipts.SIGNING_KEY_FILE).exists():
            return self.signer().public_key()
        return None

    def lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [ln for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip()]

    def last_batch(self) -> int:
        """The batch number of the file's last head (0: none), from the file's tail only: the
        sealer asks every few seconds, and the file grows by a line a batch for years."""
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 65536))
            tail = [ln for ln in f.read().splitlines() if ln.strip()]
        return int(json.loads(tail[-1])["batch"]) if tail else 0

    def write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def locked(self) -> _FileLock:
        return _FileLock(self.path.with_name(self.path.name + ".lock"))


class _FileLock:
    """One sealer at a time on this machine (every uvicorn worker runs one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> _FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def sign_head(key: Ed25519PrivateKey, body: dict[str, Any]) -> str:
    signature = key.sign(_json(body).encode())
    return _json({**body, "sig": base64.b64encode(signature).decode()})


def head_signature_ok(public: Ed25519PublicKey, line: str) -> bool:
    try:
        head = json.loads(line)
        signature = base64.b64decode(head.pop("sig"))
        public.verify(signature, _json(head).encode())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


# --- the sealer ------------------------------------------------------------------------------


class SealRefusedError(RuntimeError):
    pass


def seal(engine: Engine, heads: HeadLog, limit: int = _SEAL_LIMIT) -> AuditBatch | None:
    """Seal the events appended since the last batch into one signed batch (None: nothing to
    seal). The batch commits first and its head is then appended to the head file; a head a
    crash left out of the file is written by the next seal."""
    with heads.locked(), Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEALER_LOCK})
        _catch_up_file(session, heads)
        batch = _seal_batch(session, heads.signer(), limit)
        if batch is None:
            return None
        session.commit()
        heads.write(batch.head)
        return batch


def _catch_up_file(session: Session, heads: HeadLog) -> None:
    in_file = heads.last_batch()
    in_db = session.exec(select(sa.func.max(AuditBatch.id))).one() or 0
    if in_file > in_db:
        raise SealRefusedError(
            f"the head file {heads.path} has {in_file} heads, the database {in_db}: "
            "sealed events were deleted (or the database restored); run `nongbao audit verify`"
        )
    for b in session.exec(
        select(AuditBatch).where(col(AuditBatch.id) > in_file).order_by(col(AuditBatch.id))
    ).all():
        heads.write(b.head)


def _seal_batch(session: Session, key: Ed25519PrivateKey, limit: int) -> AuditBatch | None:
    last = session.exec(select(AuditBatch).order_by(col(AuditBatch.id).desc()).limit(1)).first()
    rows = _unsealed(session, limit)
    if not rows:
        return None
    if rows[0]["hash"]:  # events chained before sealing existed: they are the first batch alone
        rows = [r for r in rows if r["hash"]]
    batch_id = (last.id or 0) + 1 if last else 1
    first_seq = last.last_seq + 1 if last else 1
    links = _chain_links(_last_sealed_hash(session, last), rows)
    # the stored leaf hashes: an event edited before sealing keeps showing its edit
    leaves = [bytes.fromhex(r["leaf_hash"] or _leaf(_entry(r))) for r in rows]
    prev_head = last.head_hash if last else GENESIS
    sealed_at = utcnow()
    body = {
        "v": 1,
        "batch": batch_id,
        "tree_size": len(rows),
        "first_seq": first_seq,
        "last_seq": first_seq + len(rows) - 1,
        "first_id": rows[0]["id"],
        "last_id": rows[-1]["id"],
        "root": merkle_root(leaves).hex(),
        "prev": prev_head,
        "sealed_at": _when(sealed_at),
    }
    line = sign_head(key, body)
    batch = AuditBatch(
        id=batch_id,
        tree_size=len(rows),
        first_seq=first_seq,
        last_seq=first_seq + len(rows) - 1,
        root=body["root"],
        prev_head=prev_head,
        head_hash=head_hash(line),
        head=line,
        sealed_at=sealed_at,
    )
    session.add(batch)
    session.flush()
    _place(session, batch_id, first_seq, [r["id"] for r in rows], links)
    return batch


# Sealing reads and writes plain rows, not ORM objects: it runs in a request worker's
# background thread, and an ORM load and flush of a batch held that worker's interpreter long
# enough to show in the balance read's p99 (README, `nongbao bench balance`).
_SEAL_READ = sa.select(
    _EVENTS.c.id,
    *(_EVENTS.c[c] for c in _COLUMNS),
    _EVENTS.c.leaf_hash,
    _EVENTS.c.hash,
    _EVENTS.c.prev_hash,
)


def _unsealed(session: Session, limit: int) -> list[sa.RowMapping]:
    query = _SEAL_READ.where(_EVENTS.c.batch_id.is_(None)).order_by(_EVENTS.c.id).limit(limit)
    return list(session.execute(query).mappings().all())


def _chain_links(prev: str, rows: list[sa.RowMapping]) -> list[tuple[str, str]]:
    """(prev_hash, hash) of each event, chained from `prev`. A legacy event (chained before
    sealing existed) keeps its own link: it may show an old break, which verify reports."""
    links = []
    for r in rows:
        link = (r["prev_hash"], r["hash"]) if r["hash"] else (prev, _chain(prev, _entry(r)))
        links.append(link)
        prev = link[1]
    return links


def _entry(row: sa.RowMapping) -> str:
    return _canonical(row["id"], row)


def _place(
    session: Session, batch_id: int, first_seq: int, ids: list[int], links: list[tuple[str, str]]
) -> None:
    """Give each event its seq, batch and chain link: one statement on PostgreSQL."""
    seqs = list(range(first_seq, first_seq + len(ids)))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _PLACE_PG,
            {
                "batch": batch_id,
                "ids": ids,
                "seqs": seqs,
                "prevs": [p for p, _ in links],
                "hashes": [h for _, h in links],
            },
        )
        return
    session.execute(
        _PLACE_EACH,
        [
            {"event_id": i, "seq": q, "batch": batch_id, "prev": p, "hash": h}
            for i, q, (p, h) in zip(ids, seqs, links, strict=True)
        ],
    )


_PLACE_PG = sa.text(
    "UPDATE audit_event AS e SET seq = v.seq, batch_id = :batch, prev_hash = v.prev,"
    " hash = v.hash FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]),"
    " CAST(:prevs AS text[]), CAST(:hashes AS text[])) AS v(id, seq, prev, hash)"
    " WHERE e.id = v.id"
)
_PLACE_EACH = (
    sa.update(_EVENTS)
    .where(_EVENTS.c.id == sa.bindparam("event_id"))
    .values(
        seq=sa.bindparam("seq"),
        batch_id=sa.bindparam("batch"),
        prev_hash=sa.bindparam("prev"),
        hash=sa.bindparam("hash"),
    )
)


def _last_sealed_hash(session: Session, last: AuditBatch | None) -> str:
    if last is None:
        return GENESIS
    e = session.exec(select(AuditEvent).where(AuditEvent.seq == last.last_seq)).first()
    return e.hash if e else GENESIS


class Sealer:
    """The background thread of a server process: seals every `interval` seconds."""

    def __init__(self, engine: Engine, heads: HeadLog, interval: float) -> None:
        self.engine, self.heads, self.interval = engine, heads, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                while seal(self.engine, self.heads) is not None:
                    if self._stop.is_set():
                        return
            except Exception:  # a failed seal is retried at the next tick; the events wait
                log.exception("audit seal failed")
            if self._stop.wait(self.interval):
                return


# --- verification ----------------------------------------------------------------------------


@dataclass
class ChainCheck:
    events: int = 0
    sealed: int = 0
    unsealed: int = 0
    batches: int = 0
    head: str = GENESIS
    problems: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str, *, id: int | None = None, batch: int | None = None) -> None:
        where = {"id": id} if id is not None else {"batch": batch}
        self.problems.append({**where, "problem": text})


def verify(session: Session, heads: HeadLog | None = None) -> ChainCheck:
    """Check the sealed batches (against their signed heads, and the head file's when given),
    every sealed event (leaf, link, place), and the events not yet sealed (leaf, id gaps)."""
    check = ChainCheck()
    batches = list(session.exec(select(AuditBatch).order_by(col(AuditBatch.id))).all())
    _check_heads(check, batches, heads)
    _check_sealed(check, session, {b.id: b for b in batches})
    _check_unsealed(check, session)
    _check_gaps(check, session)
    check.batches = len(batches)
    check.head = batches[-1].head_hash if batches else GENESIS
    check.events = check.sealed + check.unsealed
    return check


def _check_heads(check: ChainCheck, batches: list[AuditBatch], heads: HeadLog | None) -> None:
    public = heads.public_key() if heads else None
    prev = GENESIS
    for i, b in enumerate(batches, start=1):
        if b.id != i or b.prev_head != prev or head_hash(b.head) != b.head_hash:
            check.problem("batch chain broken: a batch was deleted or its head changed", batch=b.id)
        body = json.loads(b.head)
        fields = (body.get("batch"), body.get("tree_size"), body.get("root"), body.get("prev"))
        if fields != (b.id, b.tree_size, b.root, b.prev_head) or body.get("first_seq") != (
            b.first_seq
        ):
            check.problem("batch row differs from its signed head", batch=b.id)
        if public is not None and not head_signature_ok(public, b.head):
            check.problem("head not signed by the county's key (forged)", batch=b.id)
        prev = b.head_hash
    if heads is None:
        return
    lines = heads.lines()
    for i, line in enumerate(lines, start=1):
        if i > len(batches):
            body = json.loads(line)
            check.problem(
                f"the head file has batch {i} (events {body.get('first_seq')}.."
                f"{body.get('last_seq')}) that the database lacks: newest events deleted",
                batch=i,
            )
        elif line != batches[i - 1].head:
            check.problem("batch differs from its head in the head file", batch=i)
    for b in batches[len(lines) :]:
        check.warnings.append(
            {"batch": b.id, "warning": "not yet in the head file (the next seal writes it)"}
        )


def _check_sealed(
    check: ChainCheck, session: Session, batches: dict[int | None, AuditBatch]
) -> None:
    prev, expected_seq = GENESIS, 1
    leaves: list[bytes] = []
    current: int | None = None

    def close(batch_id: int | None) -> None:
        b = batches.get(batch_id)
        if b is None:
            check.problem("events sealed in a batch that does not exist", batch=batch_id)
        elif len(leaves) != b.tree_size or merkle_root(leaves).hex() != b.root:
            check.problem(
                "events do not match the signed head (edited or deleted, then recomputed)",
                batch=batch_id,
            )

    for e in _all(session, sealed=True):
        if e.batch_id != current:
            if current is not None:
                close(current)
            current, leaves = e.batch_id, []
        check.sealed += 1
        leaf = leaf_hash(e)
        leaves.append(bytes.fromhex(leaf))
        if e.seq != expected_seq:
            check.problem(f"sealed events {expected_seq}..{(e.seq or 0) - 1} deleted", id=e.id)
        elif e.prev_hash != prev:
            check.problem("broken link: an earlier event was deleted or changed", id=e.id)
        if leaf != e.leaf_hash or chain_hash(e.prev_hash, e) != e.hash:
            check.problem("content changed after it was written", id=e.id)
        prev, expected_seq = e.hash, (e.seq or 0) + 1
    if current is not None:
        close(current)
    for b in batches.values():
        if b.last_seq >= expected_seq:
            check.problem(f"sealed events {expected_seq}..{b.last_seq} deleted", batch=b.id)
            expected_seq = b.last_seq + 1


def _check_unsealed(check: ChainCheck, session: Session) -> None:
    prev = GENESIS
    for e in _all(session, sealed=False):
        check.unsealed += 1
        if e.hash:  # chained before sealing existed: the old chain still holds until sealed
            if e.prev_hash != prev:
                check.problem("broken link: an earlier event was deleted or changed", id=e.id)
            if chain_hash(e.prev_hash, e) != e.hash:
                check.problem("content changed after it was written", id=e.id)
                continue
            prev = e.hash
        if e.leaf_hash != leaf_hash(e):
            check.problem("content changed after it was written", id=e.id)


def _gaps(session: Session) -> list[tuple[int, int]]:
    """(first missing id, the id after the gap): ids the sequence gave that no event holds."""
    q = sa.text(
        "SELECT prev + 1 AS first, id FROM (SELECT id, COALESCE(LAG(id) OVER (ORDER BY id), 0)"
        " AS prev FROM audit_event) t WHERE id - prev > 1 ORDER BY id"
    )
    return [(int(a), int(b)) for a, b in session.execute(q).all()]


def _settle(session: Session) -> None:
    """Wait (a little) for the transactions running now to end: an id they drew is not a gap
    while they may still commit it."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: writers hold the whole database, nothing is in flight while we read
    snap = "pg_current_snapshot()"
    xmax = session.execute(sa.text(f"SELECT pg_snapshot_xmax({snap})::text")).scalar_one()
    deadline = time.monotonic() + _SETTLE_SECONDS
    while time.monotonic() < deadline:
        session.rollback()  # a fresh snapshot; we hold none open meanwhile
        xmin = session.execute(sa.text(f"SELECT pg_snapshot_xmin({snap})::text")).scalar_one()
        if int(xmin) >= int(xmax):
            return
        time.sleep(0.05)


def _check_gaps(check: ChainCheck, session: Session) -> None:
    gaps = _gaps(session)
    if not gaps:
        return
    _settle(session)
    max_sealed = session.execute(
        sa.select(sa.func.max(AuditEvent.id)).where(col(AuditEvent.batch_id).is_not(None))
    ).scalar_one()
    for first, after in _gaps(session):
        if max_sealed is not None and after <= max_sealed:
            check.warnings.append(
                {
                    "id": after,
                    "warning": f"ids {first}..{after - 1} were missing when sealed "
                    "(a request rolled back or crashed, or events deleted before sealing)",
                }
            )
        else:
            check.problem(
                f"sequence gap: events {first}..{after - 1} are missing (deleted, or a "
                "request rolled back after its event was numbered)",
                id=after,
            )


def _all(session: Session, *, sealed: bool) -> Iterator[AuditEvent]:
    order = col(AuditEvent.seq) if sealed else col(AuditEvent.id)
    where = col(AuditEvent.batch_id).is_not(None) if sealed else col(AuditEvent.batch_id).is_(None)
    after = 0
    while True:
        rows = session.exec(
            select(AuditEvent).where(where, order > after).order_by(order).limit(_BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1]
        after = (last.seq if sealed else last.id) or after
