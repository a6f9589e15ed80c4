"""Text is validated: control characters are refused in every text field of every body (JSON
and form), line breaks outside notes, and dates outside the scheme's plausible range; each
with a 422 problem and a code, through the API on both databases."""

from __future__ import annotations

from datetime import date

import pytest

from backend import validation
from tests.backend.conftest import Api, valid_id

NUMBER = valid_id("110105", "19600101", "003")


def _refused(r, code: str, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == code, body
    assert field in [e["field"] for e in body["errors"]], body
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("张\x00三", "control_character"),
        ("张\x1b[31m三", "control_character"),
        ("张\u202e三", "control_character"),  # right-to-left override
        ("张\u200b三", "control_character"),  # zero-width space (Cf)
        ("张\n三", "line_break"),
        ("张\r三", "line_break"),
        ("张\t三", "control_character"),
    ],
)
def test_a_name_with_a_control_character_is_refused(api: Api, name: str, code: str) -> None:
    r = api.post(
        "/api/v1/persons",
        "clerk",
        json={
            "id_number": NUMBER,
            "name": name,
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        },
    )
    _refused(r, code, "name")


def test_notes_may_span_lines_but_hold_no_control_characters(api: Api) -> None:
    pid = api.enrol(NUMBER)
    ok = api.patch(
        f"/api/v1/persons/{pid}",
        "clerk",
        json={"reason": "moved house\nconfirmed by the village", "phone": "13800000000"},
    )
    assert ok.status_code == 200, ok.text
    bad = api.patch(
        f"/api/v1/persons/{pid}", "clerk", json={"reason": "moved\x07", "phone": "13800000001"}
    )
    _refused(bad, "control_character", "reason")
    one_line = api.patch(
        f"/api/v1/persons/{pid}", "clerk", json={"reason": "moved", "phone": "138\n00000001"}
    )
    _refused(one_line, "line_break", "phone")


def test_evidence_and_village_texts_are_checked(api: Api) -> None:
    pid = api.enrol(NUMBER)
    r = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": pid,
            "channel": "counter",
            "certified_on": "2026-11-20",
            "evidence": "seen at the counter\x1b]8;;http://x\x07",
        },
    )
    _refused(r, "control_character", "evidence")
    r = api.patch("/api/v1/villages/V001", json={"township": "城关\x08镇"})
    _refused(r, "control_character", "township")


def test_kiosk_form_fields_are_checked(api: Api) -> None:
    device = api.post("/api/v1/devices", json={"name": "k1", "kind": "kiosk"}).json()
    r = api.client.post(
        "/api/v1/kiosk/sessions",
        headers={"Authorization": f"Bearer {device['token']}"},
        data={"id_number": NUMBER, "name": "张\x00三"},
        files={"image": ("face.jpg", b"not a photo", "image/jpeg")},
    )
    _refused(r, "control_character", "name")


@pytest.mark.parametrize("cancelled_on", ["0001-01-01", "1899-12-31", "2030-01-01"])
def test_a_cancellation_outside_the_plausible_range_is_refused(api: Api, cancelled_on: str) -> None:
    pid = api.enrol(NUMBER)
    r = api.post(
        f"/api/v1/persons/{pid}/cancel",
        "clerk",
        json={"reason": "enrolled by mistake", "cancelled_on": cancelled_on},
    )
    _refused(r, "date_out_of_range", "cancelled_on")
    assert api.get(f"/api/v1/persons/{pid}").json()["status"] == "enrolled"


def test_the_range_follows_the_product_clock() -> None:
    from backend import clock

    with clock.travel(date(2030, 6, 1)):
        assert validation.latest() == date(2031, 6, 2)
        assert validation.check_date(date(2031, 6, 2)) == date(2031, 6, 2)
    assert date(1900, 1, 1) == validation.EARLIEST
