"""The outbox and the device store: committed before anything else, states that survive a
kill, and nothing readable without the PIN."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from field_app import vault as vlt
from field_app.outbox import Outbox, Visit
from field_app.session import FieldSession
from field_app.store import DeviceStore
from tests.field.conftest import ID_1, PIN, FakeClock

TEMPLATE_MARK = b"T" * 160  # the fake enrolled template in the work list


def visit(person_id: str = "P1") -> Visit:
    return Visit(
        "certification",
        person_id,
        {
            "challenge_id": "c1",
            "nonce": "n1",
            "evidence": "{}",
            "name": "王秀英",
            "id_number": ID_1,
        },
        images=[b"\xff\xd8 face jpeg"],
    )


def test_a_visit_is_on_disk_when_add_returns(store: DeviceStore, clock: FakeClock) -> None:
    out = Outbox(store, vlt.Vault.new(), clock)
    cid = out.add(visit())
    other = sqlite3.connect(store.path)  # another process's view: only committed rows
    assert other.execute(
        "SELECT kind, state, attempts FROM outbox WHERE client_id = ?", (cid,)
    ).fetchone() == ("certification", "pending", 0)
    other.close()


def test_states_pending_sending_done_and_an_interrupted_send_is_resumed(
    store: DeviceStore, clock: FakeClock
) -> None:
    vault = vlt.Vault.new()
    out = Outbox(store, vault, clock)
    a, b = out.add(visit("P1")), out.add(visit("P2"))
    assert out.mark_sending(a) == 1
    # the app is killed here: a new Outbox on a new connection sees `a` still due
    again = Outbox(DeviceStore(store.path, cost=vlt.FAST_COST), vault, clock)
    assert again.due(clock()) == [a, b] and again.get(a).state == "sending"
    assert again.mark_sending(a) == 2
    again.mark_done(a, {"status": "recorded", "outcome": "passed"})
    again.retry_later(b, clock() + 60, "ConnectError")
    assert again.due(clock()) == [] and again.next_due_at() == clock() + 60
    assert again.counts() == {"pending": 1, "sending": 0, "done": 1, "failed": 0}
    assert again.get(a).result == {"status": "recorded", "outcome": "passed"}
    assert again.get(b).result == {"last_error": "ConnectError"}


def test_a_sealed_payload_does_not_open_in_another_row(
    store: DeviceStore, clock: FakeClock
) -> None:
    vault = vlt.Vault.new()
    out = Outbox(store, vault, clock)
    a, b = out.add(visit("P1")), out.add(visit("P2"))
    store.conn.execute(
        "UPDATE outbox SET payload = (SELECT payload FROM outbox WHERE client_id = ?) WHERE client_id = ?",
        (a, b),
    )
    with pytest.raises(InvalidTag):
        out.get(b, open_visit=True)


def test_the_store_holds_no_readable_id_number_name_or_template_without_the_pin(
    signed_in: FieldSession, clock: FakeClock, tmp_path: Path
) -> None:
    from field_app.flow import FieldFlow
    from tests.field.conftest import fake_devices, walk_face

    flow = FieldFlow(signed_in, fake_devices(), wall=clock)
    flow.screen = "list"
    flow.read_card(ID_1, "王秀英")
    flow.start_face()
    walk_face(flow, step=lambda: clock.advance(0.1))
    flow.to_attest()
    assert flow.save_certification(True, "王秀英卧床")
    flow.select("P3")
    flow.to_not_home()
    flow.save_not_home("张三不在家")

    folder = signed_in.store.path.parent
    blob = b"".join(
        p.read_bytes() for p in folder.iterdir() if p.is_file()
    )  # the file, its WAL and shm
    assert len(blob) > 10_000
    secrets = [
        ID_1.encode(),
        ID_1[-8:].encode(),
        "王秀英".encode(),
        "张三".encode(),
        "王秀英".encode("gb18030"),
        "东村".encode(),
        b"13800000000",
        TEMPLATE_MARK[:32],
        base64.b64encode(TEMPLATE_MARK)[:32],
        PIN.encode(),
        b"tok-field_worker",
    ]
    leaked = [s for s in secrets if s in blob]
    assert leaked == []
    # ...and with the PIN everything opens again
    again = DeviceStore(signed_in.store.path, cost=vlt.FAST_COST)
    vault = again.unlock(PIN)
    wl = again.worklist(vault)
    assert wl is not None and wl.persons[0].id_number == ID_1
    assert [
        e.visit.fields.get("name") if e.visit else "(no visit)"
        for e in Outbox(again, vault, clock).entries(open_visits=True)
    ] == ["王秀英", None]
