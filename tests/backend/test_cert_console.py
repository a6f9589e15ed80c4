"""The review console's guards, without a browser: sign-in by role, CSRF on decisions."""

from __future__ import annotations

import re
import uuid

from tests.backend.cert_helpers import (
    ENROL_B,
    GREY_B,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    photo,
)
from tests.backend.conftest import PASSWORD, Api, valid_id


def test_console_needs_a_reviewer_and_a_csrf_token_for_decisions(api: Api) -> None:
    pid = elder(api, name="李四")
    enrol_face(api, pid, ENROL_B)
    kiosk = device(api)
    certify(api, kiosk, pid, challenge(api, kiosk, pid), photo(GREY_B))
    case_id = api.get("/api/v1/review/cases", "reviewer").json()[0]["case_id"]
    client = api.client

    assert (
        client.get("/console/cases", follow_redirects=False).headers["location"] == "/console/login"
    )
    assert (
        client.post("/console/login", data={"username": "clerk", "password": PASSWORD}).status_code
        == 403
    )
    assert (
        client.post(
            "/console/login", data={"username": "reviewer", "password": "wrong"}
        ).status_code
        == 401
    )
    signed_in = client.post(
        "/console/login",
        data={"username": "reviewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert (
        signed_in.status_code == 303
        and "httponly" in signed_in.headers["set-cookie"].lower()
        and "samesite=strict" in signed_in.headers["set-cookie"].lower()
    )

    page = client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200 and "data:image/jpeg;base64," in page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]  # no csrf field fails here
    forged = client.post(
        f"/console/cases/{case_id}/decision",
        data={"decision": "approve", "note": "ok", "csrf": "0" * 32},
    )
    assert forged.status_code == 403
    assert api.get("/api/v1/review/cases", "reviewer").json()[0]["status"] == "open"
    done = client.post(
        f"/console/cases/{case_id}/decision",
        data={"decision": "approve", "note": "同一人", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/cases?msg=decided"
    assert api.get("/api/v1/review/cases", "reviewer").json() == []
    client.post("/console/logout")
    assert client.get("/console/cases", follow_redirects=False).status_code == 303


def test_a_family_death_report_reads_in_words_with_its_date_and_note(api: Api) -> None:
    pid = api.enrol(valid_id("110105", "19500101", "031"), name="王五", village="V001")
    award = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2025-06-01"})
    assert award.status_code == 201, award.text
    visit = {
        "client_id": str(uuid.uuid4()),
        "person_id": pid,
        "outcome": "reported_dead",
        "visited_at": "2026-11-27T09:30:00+08:00",
        "date_of_death": "2026-11-20",
        "note": "儿子说上周去世",
    }
    assert api.post("/api/v1/field/visits", "field_worker", json=visit).status_code == 201
    case_id = api.get("/api/v1/review/cases", "reviewer").json()[0]["case_id"]
    client = api.client
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get(f"/console/cases/{case_id}").text
    assert "家属报告死亡" in page and "死亡日期: 2026-11-20" in page
    assert "备注: 儿子说上周去世" in page and "note:" not in page
    english = client.get(f"/console/cases/{case_id}?lang=en").text
    assert "Death reported by the family" in english and "Date of death: 2026-11-20" in english
