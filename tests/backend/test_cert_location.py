"""The location rule: a kiosk or field certification reported far from the person's village
(home) is referred to a reviewer with `location_far`, never passed. Real face photos; the
liveness measurements are synthesized from the challenge (see cert_helpers)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from backend.policy import load_policy
from backend.services.certification import haversine_km
from tests.backend.cert_helpers import (
    ENROL_A,
    SAME_A,
    certify,
    challenge,
    device,
    elder,
    enrol_face,
    photo,
)
from tests.backend.conftest import PASSWORD, Api

HOME = (30.0, 104.0)  # the located village's centre
NEAR = (30.005, 104.003)  # about 0.63 km from HOME
FAR_50 = (30.45, 104.0)  # 0.45 degrees of latitude north: about 50 km from HOME
_serial = itertools.count(1)


def located_village(api: Api, code: str = "V010") -> None:
    r = api.post(
        "/api/v1/villages",
        "admin",
        json={
            "code": code,
            "name": "南村",
            "township": "城关镇",
            "latitude": HOME[0],
            "longitude": HOME[1],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": code,
        "name": "南村",
        "township": "城关镇",
        "latitude": HOME[0],
        "longitude": HOME[1],
    }


def where(point: tuple[float, float], accuracy_m: float = 25) -> dict[str, str]:
    return {"latitude": str(point[0]), "longitude": str(point[1]), "accuracy_m": str(accuracy_m)}


def field_certify(api: Api, pid: str, extra: dict[str, str] | None, kind: str = "field") -> Any:
    dev = device(api, kind=kind, name=f"{kind}-{next(_serial)}")
    ch = challenge(api, dev, pid)
    r = certify(api, dev, pid, ch, photo(SAME_A), channel=kind, extra=extra)
    assert r.status_code == 201, r.text
    return r.json()


def open_cases(api: Api, pid: str, **params: str) -> list[dict[str, Any]]:
    r = api.get("/api/v1/review/cases", "reviewer", params={"status": "open", **params})
    assert r.status_code == 200, r.text
    return [c for c in r.json() if c["person_id"] == pid]


def test_haversine_matches_known_distances() -> None:
    assert haversine_km(*HOME, *HOME) == 0.0
    # one degree of latitude on the mean-radius sphere: 2*pi*6371.0088/360
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(111.195, abs=0.001)
    assert haversine_km(*HOME, *FAR_50) == pytest.approx(50.04, abs=0.01)
    assert haversine_km(*HOME, *NEAR) == pytest.approx(0.63, abs=0.01)
    # Beijing (39.9042, 116.4074) to Shanghai (31.2304, 121.4737): about 1068 km
    assert haversine_km(39.9042, 116.4074, 31.2304, 121.4737) == pytest.approx(1067.3, abs=1.0)
    # across the antimeridian the short way round, not 359 degrees
    assert haversine_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(111.195, abs=0.001)


def test_the_default_policy_allows_10_km() -> None:
    assert load_policy().certification.max_distance_km == 10


def test_villages_take_a_location_both_coordinates_or_none(api: Api) -> None:
    located_village(api)
    listed = {v["code"]: v for v in api.get("/api/v1/villages", "clerk").json()}
    assert (listed["V010"]["latitude"], listed["V010"]["longitude"]) == HOME
    assert (listed["V001"]["latitude"], listed["V001"]["longitude"]) == (None, None)
    half = api.post(
        "/api/v1/villages", "admin", json={"code": "V011", "name": "北村", "latitude": 30}
    )
    assert half.status_code == 422, half.text
    off_earth = api.post(
        "/api/v1/villages",
        "admin",
        json={"code": "V012", "name": "北村", "latitude": 91, "longitude": 104},
    )
    assert off_earth.status_code == 422, off_earth.text


def test_a_field_certification_near_home_passes(api: Api) -> None:
    located_village(api)
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, where(NEAR))
    assert (body["outcome"], body["reasons"]) == ("passed", []), body
    assert body["receipt"] is not None and body["valid_until"] == "2027-11-30"
    assert open_cases(api, pid) == []


def test_a_field_certification_50_km_from_home_is_referred_with_the_distance(api: Api) -> None:
    located_village(api)
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, where(FAR_50, accuracy_m=30))
    # the face and liveness pass: the location alone sends it to a reviewer
    assert body["distance"] <= 0.50 and body["liveness"]["passed"] is True, body
    assert (body["outcome"], body["reasons"]) == ("referred", ["location_far"]), body
    assert body["receipt"] is None and body["valid_until"] is None
    assert api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["status"] == "never"

    queued = open_cases(api, pid, reason="location_far")
    assert len(queued) == 1 and queued[0]["reasons"] == ["location_far"], queued
    assert queued[0]["certification_id"] == body["certification_id"]
    case = api.get(f"/api/v1/review/cases/{queued[0]['case_id']}", "reviewer").json()
    assert case["reason_details"] == [
        {"code": "location_far", "distance_km": 50.04, "limit_km": 10.03}
    ], case["reason_details"]
    assert case["location"] == {"latitude": FAR_50[0], "longitude": FAR_50[1], "accuracy_m": 30}

    # the console's case page says it too
    signed_in = api.client.post(
        "/console/login",
        data={"username": "reviewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    page = api.client.get(f"/console/cases/{queued[0]['case_id']}?lang=en")
    assert page.status_code == 200, page.text
    assert re.search(r'id="location-far"[^>]*>[^<]*50\.0 km &gt; 10\.0 km<', page.text), page.text


def test_a_kiosk_submission_far_from_home_is_referred_too(api: Api) -> None:
    located_village(api)
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, where(FAR_50), kind="kiosk")
    assert (body["outcome"], body["reasons"]) == ("referred", ["location_far"]), body


def test_the_reported_accuracy_widens_the_limit(api: Api) -> None:
    located_village(api)
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    point = (30.1, 104.0)  # about 11.1 km from HOME
    assert haversine_km(*HOME, *point) == pytest.approx(11.12, abs=0.01)
    tight = field_certify(api, pid, where(point, accuracy_m=50))
    assert (tight["outcome"], tight["reasons"]) == ("referred", ["location_far"]), tight
    loose = field_certify(api, pid, where(point, accuracy_m=1500))  # limit 11.5 km
    assert (loose["outcome"], loose["reasons"]) == ("passed", []), loose


def test_without_coordinates_nothing_changes(api: Api) -> None:
    located_village(api)
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, None)  # no location sent: no check
    assert (body["outcome"], body["reasons"]) == ("passed", []), body
    half = field_certify(api, pid, {"latitude": str(FAR_50[0])})  # no longitude: no location
    assert (half["outcome"], half["reasons"]) == ("passed", []), half
    assert open_cases(api, pid) == []


def test_a_village_without_a_location_is_not_checked(api: Api) -> None:
    pid = elder(api, village="V001")  # the bootstrap's V001 has no location
    enrol_face(api, pid, ENROL_A)
    far = field_certify(api, pid, where(FAR_50))
    assert (far["outcome"], far["reasons"]) == ("passed", []), far
    assert open_cases(api, pid) == []
