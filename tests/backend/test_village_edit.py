"""PATCH /api/v1/villages/{code}: an admin sets or moves a village's location (and renames
it); the certification location check follows at once; bad values, unknown villages and other
roles change nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from backend.db import engine_for
from tests.backend.cert_helpers import ENROL_A, elder, enrol_face
from tests.backend.conftest import Api
from tests.backend.test_cert_location import (
    FAR_50,
    HOME,
    field_certify,
    located_village,
    open_cases,
    where,
)


def villages(api: Api) -> dict[str, dict[str, Any]]:
    return {v["code"]: v for v in api.get("/api/v1/villages", "clerk").json()}


def village_changes(db_url: str) -> list[tuple[str, str, str]]:
    with engine_for(db_url).connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.text(
                    "SELECT action, subject, role FROM audit_event WHERE action = 'village.change' ORDER BY id"
                )
            )
        ]


def problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


def test_a_village_given_a_location_refers_a_certification_far_from_it(
    api: Api, db_url: str
) -> None:
    assert villages(api)["V001"]["latitude"] is None  # bootstrap villages have no location
    r = api.patch("/api/v1/villages/V001", json={"latitude": HOME[0], "longitude": HOME[1]})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "code": "V001",
        "name": "东村",
        "township": "城关镇",
        "latitude": HOME[0],
        "longitude": HOME[1],
    }
    assert villages(api)["V001"] == r.json()
    assert village_changes(db_url) == [("village.change", "V001", "admin")]

    pid = elder(api, village="V001")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, where(FAR_50))
    assert (body["outcome"], body["reasons"]) == ("referred", ["location_far"]), body
    assert [c["reasons"] for c in open_cases(api, pid, reason="location_far")] == [["location_far"]]


def test_a_moved_village_takes_its_home_along(api: Api) -> None:
    located_village(api)  # V010 at HOME
    moved = api.patch("/api/v1/villages/V010", json={"latitude": FAR_50[0], "longitude": 104.0})
    assert moved.status_code == 200, moved.text
    renamed = api.patch("/api/v1/villages/V010", json={"name": "新南村", "township": "河坝镇"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {  # a rename keeps the location
        "code": "V010",
        "name": "新南村",
        "township": "河坝镇",
        "latitude": FAR_50[0],
        "longitude": FAR_50[1],
    }
    pid = elder(api, village="V010")
    enrol_face(api, pid, ENROL_A)
    body = field_certify(api, pid, where(FAR_50))  # 50 km from the old home, at the new one
    assert (body["outcome"], body["reasons"]) == ("passed", []), body

    cleared = api.patch("/api/v1/villages/V010", json={"latitude": None, "longitude": None})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["latitude"], cleared.json()["longitude"]) == (None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"latitude": 90.5, "longitude": 104},
        {"latitude": -91, "longitude": 104},
        {"latitude": 30, "longitude": 180.01},
        {"latitude": 30, "longitude": -181},
        {"latitude": 30},  # both or neither
        {"longitude": 104},
        {"latitude": 30, "longitude": None},
        {"latitude": "north", "longitude": 104},
        {"name": ""},
        {"name": None},
        {"township": None},
        {"altitude": 500},  # no such field
        {},  # nothing to change
    ],
)
def test_bad_values_are_422_and_change_nothing(api: Api, db_url: str, body: dict[str, Any]) -> None:
    located_village(api)
    before = villages(api)
    body_out = problem(api.patch("/api/v1/villages/V010", json=body), 422)
    assert body_out["errors"], body_out
    assert villages(api) == before
    assert village_changes(db_url) == []


def test_not_a_number_is_422(api: Api) -> None:
    located_village(api)
    r = api.client.patch(
        "/api/v1/villages/V010",
        content=b'{"latitude": NaN, "longitude": 104}',
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    problem(r, 422)
    assert villages(api)["V010"]["latitude"] == HOME[0]


def test_an_unknown_village_is_404(api: Api, db_url: str) -> None:
    body = problem(api.patch("/api/v1/villages/V999", json={"latitude": 1, "longitude": 2}), 404)
    assert body["detail"] == "no village V999"
    assert village_changes(db_url) == []


@pytest.mark.parametrize("role", ["clerk", "reviewer", "field_worker", "auditor"])
def test_only_an_admin_changes_a_village(api: Api, db_url: str, role: str) -> None:
    located_village(api)
    before = villages(api)
    problem(api.patch("/api/v1/villages/V010", role, json={"latitude": 1, "longitude": 2}), 403)
    assert villages(api) == before
    assert village_changes(db_url) == []
    r = api.client.patch("/api/v1/villages/V010", json={"latitude": 1, "longitude": 2})
    problem(r, 401)
