"""SMS notices end to end: queued once per event, sent through the simulator (a real process),
delivery recorded from its receipts; quiet hours by the product clock; parallel senders."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from backend import clock
from backend.db import engine_for, session_scope
from backend.models import SmsNotice
from backend.services import notices
from backend.sms import SmsGateway
from tests.backend.conftest import Api
from tests.notices.helpers import pensioner, send, service, sync
from tests.sms_sim import SmsSim


def _kinds(api: Api, pid: str) -> list[str]:
    return sorted(n["kind"] for n in api.get(f"/api/v1/persons/{pid}/notices", "clerk").json())


def test_each_event_one_notice_to_the_right_phone(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim
) -> None:
    pensioner(api, "011", awarded_on="2025-11-20", name="钱大妈", phone="13800000011")
    overdue = pensioner(api, "021", awarded_on="2025-10-10", name="孙大爷")  # no phone
    r = api.post(
        f"/api/v1/persons/{overdue}/family-contacts",
        "clerk",
        json={
            "name": "孙小明",
            "relation": "child",
            "phone": "13900000021",
            "receives_notices": True,
        },
    )
    assert r.status_code == 201, r.text
    nobody = pensioner(api, "031", awarded_on="2025-10-12", name="李奶奶")  # no phone at all
    suspended = pensioner(api, "041", awarded_on="2026-06-01", name="周大爷", phone="13800000041")
    r = api.post(
        f"/api/v1/persons/{suspended}/suspensions",
        "clerk",
        json={"reason": "manual", "from_month": "2026-11", "note": "核查银行账户"},
    )
    assert r.status_code == 201, r.text

    first = api.post("/api/v1/notices/plan").json()
    assert first["cert_due"] == 1 and first["cert_overdue"] == 2 and first["suspended"] == 1
    assert sum(api.post("/api/v1/notices/plan").json().values()) == 0  # the same events: nothing

    r = api.post(f"/api/v1/suspensions/{r.json()['id']}/lift", "clerk", json={"note": "账户无误"})
    assert r.status_code == 200, r.text
    assert api.post("/api/v1/notices/plan").json()["resumed_arrears"] == 1

    result = send(db_url, tmp_path, sms_sim)
    assert (result.sent, result.rejected, result.retry_later) == (4, 0, 0)
    sent = {m["to"]: m["text"] for m in sms_sim.messages()}
    assert sent["13800000011"].startswith(
        "钱大妈您好：您的养老金领取资格认证将于2026年11月30日到期"
    )
    assert "孙大爷您好" in sent["13900000021"] and "已于2026年10月31日到期" in sent["13900000021"]
    assert len(sms_sim.messages()) == 4  # 周大爷: suspended and resumed; 李奶奶: no number

    assert sync(db_url, tmp_path, sms_sim) == 4
    listed = api.get(f"/api/v1/persons/{overdue}/notices", "clerk").json()
    assert [(n["kind"], n["status"], n["phone"]) for n in listed] == [
        ("cert_overdue", "delivered", "139****0021")
    ]
    assert listed[0]["recipient"].startswith("family:")
    assert _kinds(api, suspended) == ["resumed_arrears", "suspended"]
    [kept] = api.get(f"/api/v1/persons/{nobody}/notices", "clerk").json()
    assert (kept["status"], kept["phone"]) == ("no_recipient", None)

    assert send(db_url, tmp_path, sms_sim).sent == 0  # nothing left to send
    assert len(sms_sim.messages()) == 4


def test_payment_returned_once_per_return(api: Api, db_url: str, tmp_path: Path) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    with service(db_url, tmp_path) as ctx:
        first = notices.notify_payment_returned(
            ctx, pid, ref="BR-2026-11-0001", period="2026年11月", amount_fen=15_500
        )
        again = notices.notify_payment_returned(
            ctx, pid, ref="BR-2026-11-0001", period="2026年11月", amount_fen=15_500
        )
    assert first is not None and again is None
    assert "2026年11月的养老金155.00元被银行退回" in first.text
    [row] = api.get(f"/api/v1/persons/{pid}/notices", "clerk").json()
    assert row["kind"] == "payment_returned"


def test_quiet_hours_by_the_product_clock(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim
) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    with service(db_url, tmp_path) as ctx:
        notices.notify_payment_returned(ctx, pid, ref="r1", period="2026年11月", amount_fen=100)
    with clock.travel("2026-11-27T22:30:00+08:00"):
        assert send(db_url, tmp_path, sms_sim).quiet_hours
    with clock.travel("2026-11-28T07:59:00+08:00"):
        assert send(db_url, tmp_path, sms_sim).quiet_hours
    assert sms_sim.messages() == []
    with clock.travel("2026-11-28T08:00:00+08:00"):
        assert send(db_url, tmp_path, sms_sim).sent == 1
    assert len(sms_sim.messages()) == 1


def test_parallel_senders_send_each_notice_once(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim
) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    with service(db_url, tmp_path) as ctx:
        for n in range(12):
            notices.notify_payment_returned(
                ctx, pid, ref=f"r{n}", period="2026年11月", amount_fen=100
            )
    results = []
    go = threading.Barrier(4)

    def sender(name: str) -> None:
        go.wait()
        results.append(send(db_url, tmp_path, sms_sim, sender=name))

    threads = [threading.Thread(target=sender, args=(f"s{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in results) == 12
    stats = sms_sim.stats()
    assert len(stats["messages"]) == 12
    assert stats["send_calls"] == 12  # not merely deduplicated by the gateway: sent once
    assert sorted(m["ref"] for m in stats["messages"]) == sorted(
        n["notice_id"] for n in api.get(f"/api/v1/persons/{pid}/notices", "clerk").json()
    )


def test_a_dead_senders_claim_is_taken_over_without_a_second_message(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim
) -> None:
    """The sender died after the gateway took the message and before it recorded that: the
    claim goes stale, another sender sends again with the same ref, the gateway answers
    with the first message, and the resident got one SMS."""
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    with service(db_url, tmp_path) as ctx:
        notice = notices.notify_payment_returned(ctx, pid, ref="r1", period="11月", amount_fen=100)
        assert notice is not None
        notice_id = notice.id
    SmsGateway(sms_sim.url, sms_sim.key).send("13800000011", "x", ref=notice_id)  # then it died
    with session_scope(engine_for(db_url)) as s:
        row = s.get(SmsNotice, notice_id)
        assert row is not None
        row.status, row.claimed_by, row.claimed_at = "sending", "dead", clock.now()
        s.add(row)
    assert send(db_url, tmp_path, sms_sim).skipped + send(db_url, tmp_path, sms_sim).sent == 0
    with clock.travel(clock.now() + timedelta(minutes=11)):
        assert send(db_url, tmp_path, sms_sim).sent == 1
    assert len(sms_sim.messages()) == 1


@pytest.mark.parametrize("mode, status", [("reject", "rejected"), ("undeliverable", "failed")])
def test_undeliverable_numbers_show_as_such(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim, mode: str, status: str
) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    sms_sim.fail("13800000011", mode)
    with service(db_url, tmp_path) as ctx:
        notices.notify_payment_returned(ctx, pid, ref="r1", period="11月", amount_fen=100)
    send(db_url, tmp_path, sms_sim)
    sync(db_url, tmp_path, sms_sim)
    [row] = api.get(f"/api/v1/persons/{pid}/notices", "clerk").json()
    assert row["status"] == status


def test_gateway_down_is_retried_later(
    api: Api, db_url: str, tmp_path: Path, sms_sim: SmsSim
) -> None:
    pid = pensioner(api, "011", awarded_on="2026-06-01", phone="13800000011")
    with service(db_url, tmp_path) as ctx:
        notices.notify_payment_returned(ctx, pid, ref="r1", period="11月", amount_fen=100)
    sms_sim.fail("13800000011", "down")
    assert send(db_url, tmp_path, sms_sim).retry_later == 1
    sms_sim.fail("13800000011", "ok")
    assert send(db_url, tmp_path, sms_sim).sent == 1
    [row] = api.get(f"/api/v1/persons/{pid}/notices", "clerk").json()
    assert (row["status"], row["attempts"]) == ("sent", 2)
