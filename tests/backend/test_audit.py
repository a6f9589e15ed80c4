"""The audit chain: writes and personal-data reads are logged; edits and deletions are caught."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend.db import engine_for
from backend.models import AuditEvent
from backend.services import audit
from backend.services.context import Actor
from tests.backend.cert_helpers import elder
from tests.backend.conftest import Api
from tests.backend.test_cli import nongbao
from tests.live import server_env


def _events(db_url: str) -> list[AuditEvent]:
    with Session(engine_for(db_url)) as s:
        return list(s.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all())


def _seal(db_url: str, tmp_path: Path) -> None:
    heads = audit.HeadLog(tmp_path / "heads.jsonl", tmp_path / "keys")
    while audit.seal(engine_for(db_url), heads) is not None:
        pass


def test_writes_and_reads_of_personal_data_are_chained_events(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    pid = elder(api)
    api.get(f"/api/v1/persons/{pid}", "reviewer")
    api.get(f"/api/v1/persons/{pid}/account", "auditor")
    api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": pid,
            "channel": "counter",
            "certified_on": "2026-11-27",
            "evidence": "柜台",
        },
    )
    _seal(db_url, tmp_path)  # the sealer chains the events (appends do not)
    events = _events(db_url)
    actions = [(e.actor, e.action, e.subject) for e in events]
    assert actions == [
        ("user:clerk", "POST /api/v1/persons", ""),
        ("user:reviewer", "read person", pid),
        ("user:auditor", "read account", pid),
        ("user:clerk", "certification.counter", pid),
    ]
    assert events[0].prev_hash == audit.GENESIS and all(
        b.prev_hash == a.hash for a, b in itertools.pairwise(events)
    )
    with Session(engine_for(db_url)) as s:
        assert audit.verify(s).ok


def test_a_refused_write_leaves_no_event(api: Api, db_url: str) -> None:
    r = api.post(
        "/api/v1/persons",
        "clerk",
        json={"id_number": "bad", "name": "x", "village_code": "V001", "enrolled_on": "2010-08-01"},
    )
    assert r.status_code == 422
    assert _events(db_url) == []


def test_cli_detects_an_edited_row_and_a_deleted_row(api: Api, db_url: str, tmp_path: Path) -> None:
    for seq in ("011", "021", "031"):
        elder(api, seq=seq, name="王五")
    env = server_env(db_url, tmp_path)
    r = nongbao(["audit", "verify", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["events"] == 3 and json.loads(r.stdout)["ok"] is True

    ids = [e.id for e in _events(db_url)]
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_event SET actor = 'user:someone_else' WHERE id = :i"),
            {"i": ids[1]},
        )
    r = nongbao(["audit", "verify", "--json"], env)
    assert r.returncode == 1 and json.loads(r.stdout)["problems"] == [
        {"id": ids[1], "problem": "content changed after it was written"}
    ]
    assert "broken at event" in r.stderr

    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_event SET actor = 'user:clerk' WHERE id = :i"), {"i": ids[1]}
        )
    assert nongbao(["audit", "verify"], env).returncode == 0  # restored exactly: intact again
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE id = :i"), {"i": ids[1]})
    r = nongbao(["audit", "verify", "--json"], env)
    assert r.returncode == 1 and json.loads(r.stdout)["problems"][0]["id"] == ids[2]


def test_concurrent_appends_keep_one_unforked_chain(api: Api, db_url: str, tmp_path: Path) -> None:
    engine = engine_for(db_url)
    who = Actor(kind="user", name="t", role="clerk")

    def writer(n: int) -> None:
        for i in range(5):
            with Session(engine) as s:
                audit.append(s, who, f"test.{n}.{i}")
                s.commit()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _seal(db_url, tmp_path)
    events = _events(db_url)
    assert (
        len(events) == 20 and len({e.prev_hash for e in events}) == 20
    )  # no two events share a predecessor
    with Session(engine) as s:
        assert audit.verify(s).ok
