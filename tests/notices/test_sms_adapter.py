"""The SMS adapter against the simulator, a real process: send, dedup by ref, failures, receipts."""

from __future__ import annotations

import pytest

from backend.sms import SmsGateway, SmsRejected, SmsUnavailable, parse_receipt
from tests.live import free_port
from tests.sms_sim import SmsSim


def test_send_records_and_receipts(sms_sim: SmsSim) -> None:
    gw = SmsGateway(sms_sim.url, sms_sim.key)
    first = gw.send("13800000001", "您的认证将于30天后到期", ref="n-1")
    assert sms_sim.messages() == [
        {
            "message_id": first,
            "to": "13800000001",
            "text": "您的认证将于30天后到期",
            "ref": "n-1",
            "at": sms_sim.messages()[0]["at"],
        }
    ]
    receipts = gw.receipts()
    assert [(r.message_id, r.ref, r.status) for r in receipts] == [(first, "n-1", "delivered")]
    assert gw.receipts(since=receipts[-1].seq) == []


def test_same_ref_is_one_message(sms_sim: SmsSim) -> None:
    gw = SmsGateway(sms_sim.url, sms_sim.key)
    a = gw.send("13800000001", "一", ref="same")
    b = gw.send("13800000001", "一", ref="same")
    assert a == b
    assert len(sms_sim.messages()) == 1
    assert sms_sim.stats()["send_calls"] == 2


def test_failures_are_told_apart(sms_sim: SmsSim) -> None:
    gw = SmsGateway(sms_sim.url, sms_sim.key)
    sms_sim.fail("13900000000", "reject")
    with pytest.raises(SmsRejected):
        gw.send("13900000000", "x", ref="r1")
    sms_sim.fail("13900000000", "down")
    with pytest.raises(SmsUnavailable):
        gw.send("13900000000", "x", ref="r2")
    sms_sim.fail("13900000000", "undeliverable")
    mid = gw.send("13900000000", "x", ref="r3")
    assert [(r.message_id, r.status) for r in gw.receipts()] == [(mid, "failed")]
    assert sms_sim.messages()[0]["ref"] == "r3"


def test_wrong_key_is_refused_and_nothing_sent(sms_sim: SmsSim) -> None:
    with pytest.raises(SmsRejected):
        SmsGateway(sms_sim.url, "wrong").send("13800000001", "x", ref="r")
    assert sms_sim.messages() == []


def test_bad_input_never_reaches_the_gateway(sms_sim: SmsSim) -> None:
    gw = SmsGateway(sms_sim.url, sms_sim.key)
    for phone, text in (("not-a-phone", "x"), ("13800000001", ""), ("13800000001", "长" * 501)):
        with pytest.raises(SmsRejected):
            gw.send(phone, text, ref="r")
    assert sms_sim.stats()["send_calls"] == 0


def test_unreachable_gateway_is_transient() -> None:
    with pytest.raises(SmsUnavailable):
        SmsGateway(f"http://127.0.0.1:{free_port()}", "k", timeout=2).send(
            "13800000001", "x", ref="r"
        )


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"message_id": "m", "ref": "r", "status": "lost", "at": "t"},
        {"message_id": "", "ref": "r", "status": "delivered", "at": "t"},
        {"ref": "r", "status": "delivered", "at": "t"},
    ],
)
def test_malformed_receipts_are_refused(payload: object) -> None:
    with pytest.raises(ValueError):
        parse_receipt(payload)
