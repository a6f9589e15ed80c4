"""The sealed audit trail: appends never wait for each other; signed batch heads, kept in a head
file outside the database, find an edit or a deletion even when every hash was recomputed;
a server killed between an append and the seal loses nothing (docs/audit.md)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from backend import clock
from backend.db import alembic_config, engine_for
from backend.models import AuditBatch, AuditEvent
from backend.services import audit
from backend.services.context import Actor
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.backend.test_cli import nongbao
from tests.live import ROOT, free_port, server_env

WHO = Actor(kind="user", name="t", role="clerk")


def _heads(tmp_path: Path) -> audit.HeadLog:
    """Where the CLI looks with server_env: data/audit/heads.jsonl, the key beside master.key."""
    return audit.HeadLog(tmp_path / "data" / "audit" / "heads.jsonl", tmp_path / "keys")


def _append(db_url: str, n: int, tag: str = "e") -> None:
    with Session(engine_for(db_url)) as s:
        for i in range(n):
            audit.append(s, WHO, f"test.{tag}.{i}", f"p-{i}")
        s.commit()


def _seal_all(db_url: str, tmp_path: Path) -> list[AuditBatch]:
    done = []
    while (b := audit.seal(engine_for(db_url), _heads(tmp_path))) is not None:
        done.append(b)
    return done


def _verify(db_url: str, tmp_path: Path) -> tuple[int, dict]:
    r = nongbao(["audit", "verify", "--json"], server_env(db_url, tmp_path))
    return r.returncode, json.loads(r.stdout)


def _events(db_url: str) -> list[AuditEvent]:
    with Session(engine_for(db_url)) as s:
        return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def _recompute_everything(db_url: str) -> None:
    """What an attacker with the database (but not the county's key) does after an edit or a
    deletion: every leaf, link, place, batch root and head made consistent again, the heads
    signed with a key of their own."""
    forger = Ed25519PrivateKey.generate()
    with Session(engine_for(db_url)) as s:
        events = list(s.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all())
        batches = list(s.exec(select(AuditBatch).order_by(col(AuditBatch.id))).all())
        prev, seq, prev_head = audit.GENESIS, 1, audit.GENESIS
        for b in batches:
            mine = [e for e in events if e.batch_id == b.id]
            for e in mine:
                e.seq, e.leaf_hash = seq, audit.leaf_hash(e)
                e.prev_hash, e.hash = prev, audit.chain_hash(prev, e)
                prev, seq = e.hash, seq + 1
                s.add(e)
            if not mine:
                s.delete(b)
                continue
            b.tree_size, b.first_seq, b.last_seq = len(mine), mine[0].seq or 0, mine[-1].seq or 0
            b.root = audit.merkle_root([bytes.fromhex(e.leaf_hash) for e in mine]).hex()
            b.prev_head = prev_head
            body = {**json.loads(b.head), "tree_size": b.tree_size, "root": b.root}
            body.update(first_seq=b.first_seq, last_seq=b.last_seq, prev=prev_head)
            body.pop("sig")
            b.head = audit.sign_head(forger, body)
            b.head_hash = prev_head = audit.head_hash(b.head)
            s.add(b)
        s.commit()


def test_rfc6962_tree_hash_matches_the_rfc_shape() -> None:
    leaves = [bytes([i]) * 32 for i in range(5)]
    h = audit.hashlib.sha256

    def node(a: bytes, b: bytes) -> bytes:
        return h(b"\x01" + a + b).digest()

    # five leaves: the left subtree holds the largest power of two below 5 (four)
    want = node(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])), leaves[4])
    assert audit.merkle_root(leaves) == want
    assert audit.merkle_root([]) == h(b"").digest()


def test_appends_do_not_wait_for_each_other(db_url: str) -> None:
    """One request's transaction holds an event uncommitted; another appends and commits."""
    if engine_for(db_url).dialect.name == "sqlite":
        return  # SQLite has one writer by design (BEGIN IMMEDIATE): nothing to show there
    engine = engine_for(db_url)
    holder = Session(engine)
    audit.append(holder, WHO, "test.slow")  # not committed: the old design held the lock here
    done = threading.Event()

    def other() -> None:
        with Session(engine) as s:
            audit.append(s, WHO, "test.fast")
            s.commit()
        done.set()

    threading.Thread(target=other, daemon=True).start()
    try:
        assert done.wait(10), "the second append waited for the first transaction"
    finally:
        holder.commit()
        holder.close()
    assert {e.action for e in _events(db_url)} == {"test.slow", "test.fast"}


def test_sealed_batches_verify_and_export(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)  # the key folder, as a county has it
    _append(db_url, 5, "a")
    assert [b.tree_size for b in _seal_all(db_url, tmp_path)] == [5]
    _append(db_url, 3, "b")
    env = server_env(db_url, tmp_path)
    r = nongbao(["audit", "seal", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert [b["events"] for b in json.loads(r.stdout)["batches"]] == [3]
    _append(db_url, 2, "c")  # not yet sealed: checked by leaf and id
    code, out = _verify(db_url, tmp_path)
    assert code == 0, out
    assert (out["events"], out["sealed"], out["unsealed"], out["batches"]) == (10, 8, 2, 2)
    events = _events(db_url)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6, 7, 8, None, None]
    heads = _heads(tmp_path).lines()
    assert [json.loads(h)["prev"] for h in heads][1] == audit.head_hash(heads[0])
    r = nongbao(["audit", "heads", "--out", str(tmp_path / "province.jsonl")], env)
    assert r.returncode == 0, r.stderr
    exported = (tmp_path / "province.jsonl").read_text().splitlines()
    assert "PUBLIC KEY" in json.loads(exported[0])["public_key"] and exported[1:] == heads


def test_an_edit_with_every_hash_recomputed_is_found(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    _append(db_url, 20)
    _seal_all(db_url, tmp_path)
    target = _events(db_url)[7]
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_event SET actor = 'user:nobody' WHERE id = :i"), {"i": target.id}
        )
    code, out = _verify(db_url, tmp_path)  # not recomputed: the event itself shows it
    assert (
        code == 1
        and {"id": target.id, "problem": "content changed after it was written"}
        in (out["problems"])
    )
    _recompute_everything(db_url)
    with Session(engine_for(db_url)) as s:
        assert audit.verify(s).ok  # consistent in itself: the old chain could not tell
    code, out = _verify(db_url, tmp_path)
    assert code == 1
    problems = {p["problem"] for p in out["problems"]}
    assert "head not signed by the county's key (forged)" in problems
    assert "batch differs from its head in the head file" in problems


def test_deleting_72_events_and_recomputing_is_found(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    _append(db_url, 100)
    _seal_all(db_url, tmp_path)
    ids = [e.id for e in _events(db_url)][10:82]
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.delete(AuditEvent).where(col(AuditEvent.id).in_(ids)))
    code, out = _verify(db_url, tmp_path)
    assert code == 1 and out["problems"][0]["problem"].startswith("sealed events 11..82 deleted")
    _recompute_everything(db_url)
    code, out = _verify(db_url, tmp_path)
    assert code == 1 and out["events"] == 28
    assert {"batch": 1, "problem": "batch differs from its head in the head file"} in (
        out["problems"]
    )


def test_deleting_the_newest_events_is_found(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    _append(db_url, 10, "a")
    _seal_all(db_url, tmp_path)
    _append(db_url, 6, "b")
    _seal_all(db_url, tmp_path)
    with engine_for(db_url).begin() as conn:  # the newest batch and its events, gone
        conn.execute(sa.text("DELETE FROM audit_event WHERE batch_id = 2"))
        conn.execute(sa.text("DELETE FROM audit_batch WHERE id = 2"))
    with Session(engine_for(db_url)) as s:
        assert audit.verify(s).ok  # the database alone cannot tell
    code, out = _verify(db_url, tmp_path)
    assert code == 1 and out["problems"] == [
        {
            "batch": 2,
            "problem": "the head file has batch 2 (events 11..16) that the database lacks: "
            "newest events deleted",
        }
    ]
    r = nongbao(["audit", "seal"], server_env(db_url, tmp_path))
    assert r.returncode == 1 and "sealed events were deleted" in r.stderr  # no fork


def test_an_unsealed_gap_is_a_problem_and_a_sealed_over_one_a_warning(
    db_url: str, tmp_path: Path
) -> None:
    bootstrap(db_url, tmp_path)
    _append(db_url, 5)
    third = _events(db_url)[2].id or 0
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE id = :i"), {"i": third})
    code, out = _verify(db_url, tmp_path)
    assert code == 1 and out["problems"][0]["id"] == third + 1
    _seal_all(db_url, tmp_path)  # the seal cannot bring it back, but the gap stays visible
    code, out = _verify(db_url, tmp_path)
    assert code == 0 and out["warnings"][0]["id"] == third + 1


def _enrol(base: str, token: str, seq: str) -> None:
    body = {
        "id_number": valid_id("110105", "19500101", seq),
        "name": "王五",
        "village_code": "V001",
        "enrolled_on": "2010-08-01",
    }
    r = httpx.post(
        f"{base}/api/v1/persons", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201, r.text


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nongbao", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "no /healthz within 60 s"
        time.sleep(0.2)


def _login(base: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": "clerk", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_a_server_killed_before_the_seal_loses_nothing(db_url: str, tmp_path: Path) -> None:
    bootstrap(db_url, tmp_path)
    # a sealer that seals at start-up and then not for an hour: the events wait unsealed
    env = server_env(db_url, tmp_path, NONGBAO_AUDIT_SEAL_SECONDS="3600")
    port = free_port()
    proc = _start(env, port, tmp_path / "first.log")
    base = f"http://127.0.0.1:{port}"
    try:
        token = _login(base)
        for seq in ("011", "021", "031"):
            _enrol(base, token, seq)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: the sealer thread dies with it
        proc.wait()
    events = _events(db_url)
    assert len(events) == 3 and all(e.batch_id is None for e in events)

    # the next server's sealer (every 0.3 s) seals them with its own events
    env = server_env(db_url, tmp_path, NONGBAO_AUDIT_SEAL_SECONDS="0.3")
    port = free_port()
    proc = _start(env, port, tmp_path / "second.log")
    base = f"http://127.0.0.1:{port}"
    try:
        _enrol(base, _login(base), "041")
        deadline = time.monotonic() + 30
        while any(e.batch_id is None for e in _events(db_url)) or len(_events(db_url)) < 4:
            assert time.monotonic() < deadline, "not sealed within 30 s"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    code, out = _verify(db_url, tmp_path)
    assert code == 0, out
    assert (out["events"], out["sealed"], out["unsealed"]) == (4, 4, 0)
    assert sum(json.loads(h)["tree_size"] for h in _heads(tmp_path).lines()) == 4


def test_events_chained_before_the_migration_are_sealed_as_the_first_batch(
    db_url: str, tmp_path: Path
) -> None:
    bootstrap(db_url, tmp_path)
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0007s")
    prev, rows = audit.GENESIS, []
    for i in range(1, 6):  # the old scheme: each event's hash covers the one before
        e = AuditEvent(id=i, at=clock.now(), actor="user:clerk", role="clerk", action=f"old.{i}")
        e.prev_hash, e.hash = prev, audit.chain_hash(prev, e)
        prev = e.hash
        rows.append(e.model_dump(exclude={"leaf_hash", "seq", "batch_id"}))
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event"))
        conn.execute(
            sa.text(
                "INSERT INTO audit_event (id, at, actor, role, device_id, action, subject,"
                " before_digest, after_digest, prev_hash, hash) VALUES (:id, :at, :actor, :role,"
                " :device_id, :action, :subject, :before_digest, :after_digest, :prev_hash, :hash)"
            ),
            rows,
        )
    command.upgrade(cfg, "heads")
    if engine_for(db_url).dialect.name == "postgresql":  # the ids above were given by hand
        with engine_for(db_url).begin() as conn:
            conn.execute(sa.text("SELECT setval('audit_event_id_seq', 5)"))
    _append(db_url, 2, "new")
    code, out = _verify(db_url, tmp_path)  # before any seal: the old chain is still checked
    assert code == 0 and out["unsealed"] == 7, out
    assert [b.tree_size for b in _seal_all(db_url, tmp_path)] == [5, 2]
    assert [e.hash for e in _events(db_url)][:5] == [r["hash"] for r in rows]  # kept as they were
    code, out = _verify(db_url, tmp_path)
    assert code == 0 and (out["sealed"], out["batches"]) == (7, 2), out


def test_a_head_a_crash_kept_out_of_the_file_is_written_by_the_next_seal(
    db_url: str, tmp_path: Path
) -> None:
    bootstrap(db_url, tmp_path)
    heads = _heads(tmp_path)
    _append(db_url, 3, "a")
    _seal_all(db_url, tmp_path)
    _append(db_url, 2, "b")
    _seal_all(db_url, tmp_path)
    first, second = heads.lines()
    heads.path.write_text(first + "\n")  # the crash: batch 2 committed, its head not written
    code, out = _verify(db_url, tmp_path)
    assert code == 0 and out["warnings"][0]["batch"] == 2
    _append(db_url, 1, "c")
    assert [b.id for b in _seal_all(db_url, tmp_path)] == [3]
    assert heads.lines()[:2] == [first, second] and heads.last_batch() == 3
    code, out = _verify(db_url, tmp_path)
    assert code == 0 and out["warnings"] == [] and out["batches"] == 3
