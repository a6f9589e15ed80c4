"""亲情认证 through the API, as a family member's phone and as an attacker would: sign-in by
SMS code (through the SMS gateway simulator, a real process), the phone's own key, whom it
may certify, and the policy's fraud controls. Both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from backend.db import session_scope
from backend.models import AuditEvent, Certification, SmsNotice
from backend.services import notices
from backend.services.certification_status import record_passed
from backend.services.context import SYSTEM, Ctx
from backend.sms import SmsGateway
from client.capture import DeviceKey
from tests.backend.cert_helpers import ENROL_A, SAME_A, certify, elder, enrol_face, photo
from tests.backend.conftest import Api, bootstrap, make_settings
from tests.conftest import TODAY
from tests.sms_sim import SmsSim, sms_sim

__all__ = ["sms_sim"]

PHONE = "13912345678"
FULL_WIDTH_PHONE = "１３９ １２３４ ５６７８"  # the same number as a person may type it


@pytest.fixture
def api(db_url: str, tmp_path: Path, sms_sim: SmsSim) -> Iterator[Api]:
    from backend.app import create_app

    bootstrap(db_url, tmp_path)
    settings = make_settings(db_url, tmp_path).model_copy(
        update={"sms_url": sms_sim.url, "sms_key": sms_sim.key}
    )
    app = create_app(settings, today=lambda: TODAY)
    with TestClient(app) as client:
        yield Api(client)


def register_contact(api: Api, person_id: str, phone: str = PHONE) -> None:
    r = api.post(
        f"/api/v1/persons/{person_id}/family-contacts",
        "clerk",
        json={"name": "王小明", "relation": "child", "phone": phone},
    )
    assert r.status_code == 201, r.text


def last_code(sms_sim: SmsSim, phone: str = PHONE) -> str:
    texts = [m["text"] for m in sms_sim.messages() if m["to"] == phone]
    assert texts, "no SMS reached the phone"
    found = re.search(r"验证码：(\d{6})", texts[-1])
    assert found, texts[-1]
    return found.group(1)


def sign_in(api: Api, sms_sim: SmsSim, key: DeviceKey, phone: str = PHONE) -> dict[str, Any]:
    r = api.client.post("/api/v1/family/codes", json={"phone": phone})
    assert r.status_code == 202, r.text
    body = {"phone": phone, "code": last_code(sms_sim, phone), "public_key": key.public_b64}
    r = api.client.post("/api/v1/family/sessions", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


def test_a_registered_family_phone_signs_in_with_an_sms_code(api: Api, sms_sim: SmsSim) -> None:
    pid = elder(api, name="王秀兰")
    register_contact(api, pid)
    key = DeviceKey.generate()

    # a number nobody registered gets the same answer, and no SMS
    r = api.client.post("/api/v1/family/codes", json={"phone": "13000000000"})
    assert r.status_code == 202, r.text
    assert [m for m in sms_sim.messages() if m["to"] == "13000000000"] == []

    r = api.client.post("/api/v1/family/codes", json={"phone": FULL_WIDTH_PHONE})
    assert r.status_code == 202, r.text
    code = last_code(sms_sim)
    wrong = "000000" if code != "000000" else "111111"
    r = api.client.post(
        "/api/v1/family/sessions",
        json={"phone": PHONE, "code": wrong, "public_key": key.public_b64},
    )
    assert (r.status_code, r.json()["code"]) == (401, "bad_code"), r.text
    session = api.client.post(
        "/api/v1/family/sessions",
        json={"phone": PHONE, "code": code, "public_key": key.public_b64},
    )
    assert session.status_code == 201, session.text
    listed = session.json()["pensioners"]
    assert [(p["person_id"], p["name"], p["may_certify"]) for p in listed] == [(pid, "王**", True)]
    # the code is used up
    again = api.client.post(
        "/api/v1/family/sessions",
        json={"phone": PHONE, "code": code, "public_key": DeviceKey.generate().public_b64},
    )
    assert again.status_code == 401, again.text

    # what a family phone may do, and no more
    headers = bearer(session.json())
    assert api.client.get("/api/v1/family/pensioners", headers=headers).status_code == 200
    assert api.client.get(f"/api/v1/persons/{pid}/account", headers=headers).status_code == 403
    other = elder(api, seq="013", name="李四")
    r = api.client.post("/api/v1/challenges", headers=headers, json={"person_id": other})
    assert (r.status_code, r.json()["code"]) == (403, "not_your_family"), r.text

    # signing out ends the token
    assert api.client.delete("/api/v1/family/sessions", headers=headers).status_code == 204
    assert api.client.get("/api/v1/family/pensioners", headers=headers).status_code == 401


def test_codes_are_limited_per_number_and_per_code(api: Api, sms_sim: SmsSim) -> None:
    pid = elder(api)
    register_contact(api, pid, PHONE)
    key = DeviceKey.generate()
    assert api.client.post("/api/v1/family/codes", json={"phone": PHONE}).status_code == 202
    code = last_code(sms_sim)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):  # the policy's code_attempts
        r = api.client.post(
            "/api/v1/family/sessions",
            json={"phone": PHONE, "code": wrong, "public_key": key.public_b64},
        )
        assert r.status_code == 401, r.text
    # the right code after five wrong tries: the code is void
    r = api.client.post(
        "/api/v1/family/sessions", json={"phone": PHONE, "code": code, "public_key": key.public_b64}
    )
    assert (r.status_code, r.json()["code"]) == (401, "bad_code"), r.text

    for _ in range(4):  # five codes an hour in all
        assert api.client.post("/api/v1/family/codes", json={"phone": PHONE}).status_code == 202
    r = api.client.post("/api/v1/family/codes", json={"phone": PHONE})
    assert (r.status_code, r.json()["code"]) == (429, "too_many_codes"), r.text
    assert len([m for m in sms_sim.messages() if m["to"] == PHONE]) == 5

    # bad input is refused plainly, never a 500
    for body in ({"phone": "=HYPERLINK(1)"}, {"phone": "1" * 41}, {"phone": PHONE, "x": 1}):
        assert api.client.post("/api/v1/family/codes", json=body).status_code == 422


def test_a_family_phone_certifies_a_parent_once_then_in_person(api: Api, sms_sim: SmsSim) -> None:
    pid = elder(api, name="王秀兰")
    enrol_face(api, pid, ENROL_A)
    register_contact(api, pid)
    key = DeviceKey.generate()
    session = sign_in(api, sms_sim, key)
    headers = bearer(session)

    r = api.client.post("/api/v1/challenges", headers=headers, json={"person_id": pid})
    assert r.status_code == 201, r.text
    ch = r.json()
    # signed by another key: refused
    forged = certify(
        api, headers, pid, ch, photo(SAME_A), channel="family", key=DeviceKey.generate()
    )
    assert (forged.status_code, forged.json()["code"]) == (401, "bad_capture_signature")
    # a family phone certifies only through its own channel
    wrong_channel = certify(api, headers, pid, ch, photo(SAME_A), channel="kiosk", key=key)
    assert wrong_channel.status_code == 422, wrong_channel.text

    done = certify(api, headers, pid, ch, photo(SAME_A), channel="family", key=key)
    assert done.status_code == 201, done.text
    result = done.json()
    assert (result["outcome"], result["channel"]) == ("passed", "family"), result
    qr = api.client.get(
        f"/api/v1/family/certifications/{result['certification_id']}/qr.svg", headers=headers
    )
    assert qr.status_code == 200 and qr.content.startswith(b"<?xml"), qr.text[:200]

    # the SMS that confirms it goes to the phone that certified, once
    app_state = api.client.app.state.nongbao  # type: ignore[attr-defined]
    gateway = SmsGateway(sms_sim.url, sms_sim.key)
    for _ in range(2):
        notices.send_pending(
            app_state.engine, app_state.keyring, app_state.policy, gateway, sender="t"
        )
    confirmations = [m["text"] for m in sms_sim.messages() if "亲情认证）" in m["text"]]
    assert len(confirmations) == 1 and "王**" in confirmations[0], confirmations

    # every step the phone took on this person's data is in the audit trail
    with session_scope(app_state.engine) as s:
        actions = {
            e.action for e in s.exec(select(AuditEvent).where(AuditEvent.subject == pid)).all()
        }
    assert {
        "family.code",
        "family.sign_in",
        "challenge.issue",
        "certification.family",
        "family.receipt",
    } <= actions, actions

    # next time: in person
    listed = api.client.get("/api/v1/family/pensioners", headers=headers).json()["pensioners"]
    assert (listed[0]["may_certify"], listed[0]["refusal_code"]) == (False, "in_person_required")
    r = api.client.post("/api/v1/challenges", headers=headers, json={"person_id": pid})
    assert (r.status_code, r.json()["code"]) == (409, "in_person_required"), r.text


def test_one_phone_certifies_at_most_the_policys_number_of_people(
    api: Api, sms_sim: SmsSim
) -> None:
    people = [elder(api, seq=f"0{n}1", name=f"王{n}") for n in range(1, 4)]
    for pid in people:
        register_contact(api, pid)
    session = sign_in(api, sms_sim, DeviceKey.generate())
    app_state = api.client.app.state.nongbao  # type: ignore[attr-defined]
    # two of them certified through this phone a month ago (the policy's limit is 2)
    with session_scope(app_state.engine) as s:
        ctx = Ctx(s, app_state.policy, app_state.keyring, actor=SYSTEM, today=TODAY)
        for pid in people[:2]:
            record_passed(
                ctx,
                pid,
                "family",
                TODAY.replace(day=1),
                device_id=session["device_id"],
            )
        # ...and the first has since been certified in person, so it may use the phone again
        record_passed(ctx, people[0], "kiosk", TODAY)
    listed = {
        p["person_id"]: p["refusal_code"]
        for p in api.client.get("/api/v1/family/pensioners", headers=bearer(session)).json()[
            "pensioners"
        ]
    }
    assert listed == {
        people[0]: None,  # one of the two this phone already counts
        people[1]: "in_person_required",
        people[2]: "family_phone_limit",  # a third person: over the limit
    }
    with session_scope(app_state.engine) as s:
        assert s.exec(select(SmsNotice)).all() == []
        family_passes = s.exec(select(Certification).where(Certification.channel == "family"))
        assert len(family_passes.all()) == 2
