"""Certification end to end through HTTP, with real face photos (liveness measurements
synthesized from the challenge, see cert_helpers)."""

from __future__ import annotations

import json

import pytest

from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    ENROL_B,
    GREY_B,
    OTHER,
    SAME_A,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    enrol_files,
    field_phone,
    live_evidence,
    photo,
    sign,
    synthesized_evidence,
)
from tests.backend.conftest import Api


def test_same_person_passes_with_synthesized_liveness_and_gets_a_receipt_that_verifies(
    api: Api,
) -> None:
    pid = elder(api)
    enrolled = enrol_face(api, pid, ENROL_A)
    assert (
        enrolled["duplicates"] == []
        and enrolled["accepted"] is True
        and 0 < enrolled["quality"] <= 1
    )
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    assert ch["person_id"] == pid and 2 <= len(ch["actions"]) <= 3 and len(ch["nonce"]) >= 32

    r = certify(api, kiosk, pid, ch, photo(SAME_A))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "passed", body
    assert body["distance"] <= 0.50 and body["liveness"]["passed"] is True
    assert (
        body["valid_until"] == "2027-11-30"
    )  # certified 2026-11-27: through the end of the month a year later
    code = body["receipt"]["code"]
    assert code.startswith("NB1.")

    verified = api.client.get("/api/v1/receipts/verify", params={"code": code}).json()
    assert verified == {
        "genuine": True,
        "receipt_id": body["receipt"]["receipt_id"],
        "what": "certification",
        "on": "2026-11-27",
        "person": "张*",
        # where the person stands now (docs/input-and-output.md)
        "status": "valid",
        "message": "genuine; certification valid until 2027-11-30",
        "valid_until": "2027-11-30",
    }
    status = api.get(f"/api/v1/persons/{pid}/certification", "reviewer").json()
    assert status["status"] == "certified" and status["valid_until"] == "2027-11-30"
    assert status["last"]["certification_id"] == body["certification_id"]


def test_a_different_person_fails_and_the_third_failure_locks_the_card_and_refers_it(
    api: Api,
) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    for attempt in range(3):
        r = certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(OTHER))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["outcome"] == "failed" and body["distance"] > 0.60 and body["receipt"] is None
        assert "no_match" in body["reasons"], (attempt, body)
    locked = certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(SAME_A))
    assert locked.status_code == 422 and "locked for today" in locked.json()["detail"]
    cases = api.get("/api/v1/review/cases?status=open", "reviewer").json()
    assert [c["reasons"][0] for c in cases if c["person_id"] == pid] == ["repeated_failures"]
    assert api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["locked_today"] is True


def test_grey_zone_is_referred_then_approved_by_a_reviewer_and_the_person_is_certified(
    api: Api,
) -> None:
    pid = elder(api, name="李四")
    enrol_face(api, pid, ENROL_B)
    kiosk = device(api)
    r = certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(GREY_B))
    body = r.json()
    assert body["outcome"] == "referred" and 0.50 < body["distance"] <= 0.60, body
    assert body["reasons"] == ["grey_zone"] and body["valid_until"] is None
    assert api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["status"] == "never"

    cases = [
        c
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["person_id"] == pid
    ]
    assert len(cases) == 1 and cases[0]["reasons"] == ["grey_zone"]
    detail = api.get(f"/api/v1/review/cases/{cases[0]['case_id']}", "reviewer").json()
    assert detail["enrolled_photo"].startswith("data:image/jpeg;base64,") and detail[
        "captured_photo"
    ].startswith("data:image/jpeg;base64,")
    assert detail["certification"]["distance"] == body["distance"]

    missing_note = api.post(
        f"/api/v1/review/cases/{cases[0]['case_id']}/decision",
        "reviewer",
        json={"decision": "approve", "note": ""},
    )
    assert missing_note.status_code == 422
    decided = api.post(
        f"/api/v1/review/cases/{cases[0]['case_id']}/decision",
        "reviewer",
        json={"decision": "approve", "note": "同一人，照片年代较久"},
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "closed" and decided.json()["valid_until"] == "2027-11-30"
    status = api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()
    assert status["status"] == "certified" and status["last_passed"]["channel"] == "review"
    assert all(
        c["person_id"] != pid
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
    )
    again = api.post(
        f"/api/v1/review/cases/{cases[0]['case_id']}/decision",
        "reviewer",
        json={"decision": "reject", "note": "x"},
    )
    assert again.status_code == 409


def test_liveness_failure_is_never_a_pass_even_for_a_matching_face(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    r = certify(api, kiosk, pid, ch, photo(SAME_A), evidence=synthesized_evidence(ch, static=True))
    body = r.json()
    assert body["outcome"] == "referred" and body["reasons"] == ["liveness_failed"], body
    assert body["liveness"]["passed"] is False and body["receipt"] is None


@pytest.mark.parametrize("landmarks", [True, False])
def test_one_still_photo_with_made_up_measurements_is_a_static_image(
    api: Api, landmarks: bool
) -> None:
    """The attack of issue 13: the enrolled person's photo as the best image and the only
    frame, with per-frame numbers that claim every action (with or without landmarks)."""
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    items = json.loads(synthesized_evidence(ch))["frames"]
    for item in items:
        item["sample"] = 0
        if landmarks:
            item["shape"] = [[0.01 * i, 0.02 * i] for i in range(68)]
    r = certify(api, kiosk, pid, ch, photo(ENROL_A), evidence=json.dumps({"frames": items}))
    body = r.json()
    assert r.status_code == 201, body
    assert body["outcome"] != "passed" and body["receipt"] is None, body
    assert body["liveness"] == {"passed": False, "reasons": ["static_image"]}, body


def test_measurements_without_any_frame_prove_nothing(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    ch = challenge(api, kiosk, pid)
    items = [
        {k: v for k, v in i.items() if k != "sample"}
        for i in json.loads(synthesized_evidence(ch))["frames"]
    ]
    body = certify(
        api, kiosk, pid, ch, photo(SAME_A), evidence=json.dumps({"frames": items})
    ).json()
    assert body["outcome"] != "passed" and body["receipt"] is None
    assert body["liveness"]["reasons"] == ["static_image"], body


def test_a_replayed_nonce_and_a_challenge_of_another_device_are_refused(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk, other_kiosk = device(api), device(api, name="kiosk-2")
    ch = challenge(api, kiosk, pid)
    assert certify(api, other_kiosk, pid, ch, photo(SAME_A)).status_code == 403
    assert certify(api, kiosk, pid, {**ch, "nonce": "0" * 32}, photo(SAME_A)).status_code == 422
    assert certify(api, kiosk, pid, ch, photo(SAME_A)).json()["outcome"] == "passed"
    replay = certify(api, kiosk, pid, ch, photo(SAME_A))
    assert replay.status_code == 409 and "already used" in replay.json()["detail"]


def test_card_data_that_does_not_match_the_person_is_referred(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    from tests.backend.conftest import valid_id

    r = certify(
        api,
        kiosk,
        pid,
        challenge(api, kiosk, pid),
        photo(SAME_A),
        extra={"id_number": valid_id("110105", "19500101", "011"), "name": "王五"},
    )
    assert r.json()["outcome"] == "referred" and r.json()["reasons"] == ["card_mismatch"]


def test_card_data_alone_finds_the_person_and_client_id_replays_the_first_answer(api: Api) -> None:
    from tests.backend.conftest import valid_id

    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    field = device(api, kind="field", name="field-1")
    ch = challenge(api, field, pid)
    extra = {
        "id_number": valid_id("110105", "19500101", "011"),
        "name": "张三",
        "client_id": "outbox-1",
        "latitude": "30.1",
        "longitude": "104.2",
        "accuracy_m": "12",
    }
    evidence, frames = live_evidence(ch, photo(SAME_A))
    data = {
        "channel": "field",
        "challenge_id": ch["challenge_id"],
        "nonce": ch["nonce"],
        "evidence": evidence,
        **extra,
    }
    files = [("images", ("a.jpg", photo(SAME_A), "image/jpeg")), *frames]
    data = sign(field.key, data, files)
    first = api.client.post("/api/v1/certifications", headers=field, data=data, files=files)
    assert first.status_code == 201 and first.json()["outcome"] == "passed", first.text
    second = api.client.post("/api/v1/certifications", headers=field, data=data, files=files)
    assert second.json()["certification_id"] == first.json()["certification_id"]
    assert first.json()["person_id"] == pid


def test_kiosk_reads_an_account_only_inside_a_resident_session(api: Api) -> None:
    from tests.backend.conftest import valid_id

    pid = elder(api)
    other = elder(api, seq="021", name="王五")
    enrol_face(api, pid, ENROL_A)
    kiosk = device(api)
    assert api.client.get(f"/api/v1/persons/{pid}/account", headers=kiosk).status_code == 403
    opened = api.client.post(
        "/api/v1/kiosk/sessions",
        headers=kiosk,
        data={"id_number": valid_id("110105", "19500101", "011"), "name": "张三"},
        files={"image": ("a.jpg", photo(SAME_A), "image/jpeg")},
    )
    assert opened.status_code == 201, opened.text
    session = {**kiosk, "X-Resident-Session": opened.json()["session_token"]}
    assert api.client.get(f"/api/v1/persons/{pid}/account", headers=session).status_code == 200
    assert api.client.get(f"/api/v1/persons/{other}/account", headers=session).status_code == 403
    assert (
        api.client.get(
            f"/api/v1/persons/{pid}/account",
            headers={**session, "X-Resident-Session": opened.json()["session_token"][:-2] + "00"},
        ).status_code
        == 403
    )
    assert (
        api.client.delete(
            f"/api/v1/kiosk/sessions/{opened.json()['session_token']}", headers=kiosk
        ).status_code
        == 204
    )
    impostor = api.client.post(
        "/api/v1/kiosk/sessions",
        headers=kiosk,
        data={"id_number": valid_id("110105", "19500101", "011"), "name": "张三"},
        files={"image": ("b.jpg", photo(OTHER), "image/jpeg")},
    )
    assert impostor.status_code == 403


def test_field_worker_outside_their_village_is_refused(api: Api) -> None:
    outside = elder(api, village="V002")
    inside = elder(api, seq="021", name="王五")
    headers = api.auth("field_worker")
    assert (
        api.client.post(
            "/api/v1/challenges", headers=headers, json={"person_id": outside}
        ).status_code
        == 403
    )
    assert api.get(f"/api/v1/persons/{outside}", "field_worker").status_code == 403
    assert api.get(f"/api/v1/persons/{outside}/certification", "field_worker").status_code == 403
    assert (
        api.client.post(
            "/api/v1/challenges", headers=headers, json={"person_id": inside}
        ).status_code
        == 201
    )


def test_manual_counter_certification_and_no_free_text_data_match(api: Api) -> None:
    from tests.backend.conftest import valid_id

    a, b = elder(api), elder(api, seq="021", name="王五")
    r = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": a,
            "channel": "counter",
            "certified_on": "2026-11-20",
            "evidence": "本人到柜台，核验身份证",
        },
    )
    assert r.status_code == 201, r.text
    assert (
        r.json()["outcome"] == "passed"
        and r.json()["valid_until"] == "2027-11-30"
        and r.json()["receipt"]["code"].startswith("NB1.")
    )
    future = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={"person_id": a, "channel": "counter", "certified_on": "2026-12-01", "evidence": "x"},
    )
    assert future.status_code == 422
    assert (
        api.post(
            "/api/v1/certifications/manual",
            "reviewer",
            json={
                "person_id": a,
                "channel": "counter",
                "certified_on": "2026-11-20",
                "evidence": "x",
            },
        ).status_code
        == 403
    )

    # the old free-text import is gone: no typed source, no certification (the scored import
    # is tested in tests/notices/test_silent_cert.py)
    old = f"id_number,name,certified_on,evidence\n{valid_id('110105', '19500101', '021')},王五,2026-10-02,x\n"
    refused = api.post(
        "/api/v1/imports/data-match", "clerk", files={"file": ("m.csv", old.encode(), "text/csv")}
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"
    assert api.get(f"/api/v1/persons/{b}/certification", "clerk").json()["status"] == "never"
    manual_match = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": b,
            "channel": "data_match",
            "certified_on": "2026-11-20",
            "evidence": "x",
        },
    )
    assert manual_match.status_code == 422


def test_enrolment_refuses_bad_photos_and_holds_back_a_possible_duplicate(api: Api) -> None:
    from tests.backend.cert_helpers import SAME_A_2

    a, b = elder(api), elder(api, seq="021", name="王五")
    good = ("images", ("a.jpg", photo(ENROL_A), "image/jpeg"))
    garbage = api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[("images", ("x.jpg", b"not an image", "image/jpeg")), good],
    )
    assert garbage.status_code == 422 and garbage.headers["content-type"].startswith(
        "application/problem+json"
    )
    huge = api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[("images", ("x.jpg", b"\xff" * 13_000_000, "image/jpeg")), good],
    )
    assert huge.status_code == 413
    no_face = api.post(
        f"/api/v1/persons/{a}/face",
        "clerk",
        files=[("images", ("s.jpg", photo(OTHER)[:2000], "image/jpeg")), good],
    )
    assert no_face.status_code == 422
    assert (
        api.post(
            f"/api/v1/persons/{a}/face",
            "reviewer",
            files=enrol_files(ENROL_A, COMPANION[ENROL_A]),
        ).status_code
        == 403
    )

    enrol_face(api, a, ENROL_A)
    dup = enrol_face(api, b, SAME_A_2)  # the same face under another ID number
    assert dup["accepted"] is False and [d["person_id"] for d in dup["duplicates"]] == [a]
    cases = api.get("/api/v1/review/cases?reason=possible_duplicate", "reviewer").json()
    assert [c["person_id"] for c in cases] == [b]


def test_counter_face_verify_records_nothing_but_an_audit_event(api: Api) -> None:
    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    r = api.post(
        f"/api/v1/persons/{pid}/face/verify",
        "clerk",
        files={"image": ("a.jpg", photo(SAME_A), "image/jpeg")},
    )
    assert r.status_code == 200 and r.json()["outcome"] == "passed", r.text
    r = api.post(
        f"/api/v1/persons/{pid}/face/verify",
        "reviewer",
        files={"image": ("b.jpg", photo(OTHER), "image/jpeg")},
    )
    assert r.json()["outcome"] == "failed"
    assert api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["last"] is None


def test_suspension_needs_a_second_different_reviewer(api: Api) -> None:
    pid = elder(api, name="李四")
    enrol_face(api, pid, ENROL_B)
    kiosk = device(api)
    certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(GREY_B))
    case_id = api.get("/api/v1/review/cases", "reviewer").json()[0]["case_id"]
    first = api.post(
        f"/api/v1/review/cases/{case_id}/decision",
        "reviewer",
        json={"decision": "suspend", "note": "疑似冒领，暂停调查"},
    )
    assert (
        first.json()["status"] == "pending_second" and first.json()["needs_second_reviewer"] is True
    )
    same = api.post(
        f"/api/v1/review/cases/{case_id}/decision",
        "reviewer",
        json={"decision": "suspend", "note": "确认"},
    )
    assert same.status_code == 403 and "four-eyes" in same.json()["detail"]
    _add_reviewer(api, "reviewer2")
    second = api.client.post(
        f"/api/v1/review/cases/{case_id}/decision",
        headers=_login(api, "reviewer2"),
        json={"decision": "suspend", "note": "同意暂停"},
    )
    assert second.status_code == 200 and second.json()["status"] == "closed", second.text
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] in ("enrolled", "suspended")


def test_idempotency_key_on_manual_certification_replays_the_first_answer(api: Api) -> None:
    pid = elder(api)
    body = {
        "person_id": pid,
        "channel": "counter",
        "certified_on": "2026-11-20",
        "evidence": "柜台",
    }
    first = api.post(
        "/api/v1/certifications/manual", "clerk", json=body, headers={"Idempotency-Key": "k-1"}
    )
    second = api.post(
        "/api/v1/certifications/manual", "clerk", json=body, headers={"Idempotency-Key": "k-1"}
    )
    assert first.json() == second.json() and second.headers.get("Idempotent-Replayed") == "true"
    conflict = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={**body, "evidence": "另一份"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert conflict.status_code == 409


def _add_reviewer(api: Api, name: str) -> None:
    from tests.backend.conftest import PASSWORD

    r = api.post(
        "/api/v1/users", "admin", json={"username": name, "password": PASSWORD, "role": "reviewer"}
    )
    assert r.status_code == 201, r.text


def _login(api: Api, name: str) -> dict[str, str]:
    from tests.backend.conftest import PASSWORD

    token = api.client.post(
        "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_due_and_overdue_lists_per_village(api: Api, db_url: str) -> None:
    import sqlalchemy as sa

    from backend.db import engine_for

    due, overdue, fresh, elsewhere = (
        elder(api),
        elder(api, seq="021", name="王五"),
        elder(api, seq="031", name="赵六"),
        elder(api, seq="041", name="钱七", village="V002"),
    )
    with engine_for(db_url).begin() as conn:  # pensioners (the award is another module's business)
        conn.execute(sa.text("UPDATE person SET status = 'receiving'"))
    for pid, on in ((due, "2025-12-15"), (fresh, "2026-11-27")):
        assert (
            api.post(
                "/api/v1/certifications/manual",
                "clerk",
                json={
                    "person_id": pid,
                    "channel": "counter",
                    "certified_on": on,
                    "evidence": "柜台",
                },
            ).status_code
            == 201
        )
    lists = api.get("/api/v1/certifications/due?village=V001", "reviewer").json()
    assert [(p["person_id"], p["valid_until"]) for p in lists["due"]] == [(due, "2026-12-31")]
    assert [(p["person_id"], p["valid_until"]) for p in lists["overdue"]] == [(overdue, None)]
    assert [
        p["person_id"] for p in api.get("/api/v1/certifications/due", "reviewer").json()["overdue"]
    ] == [overdue, elsewhere]
    assert api.get("/api/v1/certifications/due?village=V001", "field_worker").status_code == 200
    assert api.get("/api/v1/certifications/due?village=V002", "field_worker").status_code == 403


def test_failed_sign_ins_are_rate_limited_per_address_but_successful_ones_are_not(api: Api) -> None:
    for _ in range(12):
        ok = api.client.post(
            "/api/v1/auth/token", data={"username": "clerk", "password": "correct horse battery"}
        )
        assert ok.status_code == 200
    # a different name each time: the per-address limit (10 a minute), not the per-account one
    codes = [
        api.client.post(
            "/api/v1/auth/token", data={"username": f"guess{i}", "password": "wrong password"}
        ).status_code
        for i in range(11)
    ]
    assert codes == [401] * 10 + [429]
    refused = api.client.post(
        "/api/v1/auth/token", data={"username": "clerk", "password": "correct horse battery"}
    )
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_attempts"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_field_worker_certifies_at_home_with_a_challenge_bound_to_them_and_expiry_is_enforced(
    api: Api, db_url: str
) -> None:
    import sqlalchemy as sa

    from backend.db import engine_for

    pid = elder(api)
    enrol_face(api, pid, ENROL_A)
    worker = api.auth("field_worker")
    phone = field_phone(api)  # the worker's phone: its key registered as a field device
    ch = challenge(api, worker, pid)
    from datetime import datetime, timedelta

    lifetime = datetime.fromisoformat(ch["expires_at"]) - datetime.fromisoformat(ch["issued_at"])
    assert lifetime == timedelta(days=7)  # fetched with the work list, days ahead
    assert (
        certify(api, device(api), pid, ch, photo(SAME_A)).status_code == 403
    )  # bound to the worker, not to a kiosk
    assert (
        certify(api, worker, pid, ch, photo(SAME_A), channel="kiosk", key=phone).status_code == 422
    )  # a field worker certifies in the field
    r = certify(
        api,
        worker,
        pid,
        ch,
        photo(SAME_A),
        channel="field",
        extra={"latitude": "30.1", "longitude": "104.2", "accuracy_m": "15"},
        key=phone,
    )
    assert (
        r.status_code == 201 and r.json()["outcome"] == "passed" and r.json()["channel"] == "field"
    ), r.text

    late = challenge(api, worker, pid)
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text("UPDATE challenge SET expires_at = :t WHERE id = :i"),
            {"t": datetime(2020, 1, 1), "i": late["challenge_id"]},
        )
    expired = certify(api, worker, pid, late, photo(SAME_A), channel="field", key=phone)
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]
