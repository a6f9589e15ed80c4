"""The field worker's routes: the work list to take offline, and visits without a face."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

from tests.backend.cert_helpers import ENROL_A, enrol_face
from tests.backend.conftest import Api, valid_id


def pensioner(
    api: Api,
    seq: str,
    name: str,
    *,
    village: str = "V001",
    homebound: bool = False,
    awarded_on: str = "2025-06-01",
) -> str:
    """Enrolled at 60+ at the scheme start (no contributions needed), awarded on `awarded_on`
    (the award counts as a certification: 2025-06-01 is overdue on 2026-11-27)."""
    pid = api.enrol(
        valid_id("110105", "19500101", seq), name=name, village=village, homebound=homebound
    )
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": awarded_on})
    assert r.status_code in (200, 201), r.text
    return pid


def visit(pid: str, outcome: str = "not_at_home", **extra: Any) -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "person_id": pid,
        "outcome": outcome,
        "visited_at": "2026-11-27T09:30:00+08:00",
        **extra,
    }


def test_worklist_has_due_and_overdue_people_of_own_villages_homebound_first_with_template(
    api: Api,
) -> None:
    walker = pensioner(api, "011", "甲")
    homebound = pensioner(api, "021", "乙", homebound=True)
    due = pensioner(api, "031", "丙", awarded_on="2025-12-10")  # valid through 2026-12-31: due
    pensioner(api, "041", "丁", awarded_on="2026-11-01")  # certified for a year yet
    pensioner(api, "051", "戊", village="V002")  # another village
    enrol_face(api, homebound, ENROL_A)

    r = api.get("/api/v1/field/worklist", "field_worker")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["person_id"] for p in body["persons"]] == [homebound, due, walker]
    first = body["persons"][0]
    assert (
        first["homebound"] is True
        and first["due_state"] == "overdue"
        and first["village_name"] == "东村"
    )
    assert first["address"] == "城关镇东村" and first["id_number"] == valid_id(
        "110105", "19500101", "021"
    )
    assert len(base64.b64decode(first["face_template"])) > 128
    assert body["persons"][1]["due_state"] == "due" and body["persons"][1]["face_template"] is None
    assert body["persons"][2]["last_certification"]["channel"] == "award"
    assert [v["code"] for v in body["villages"]] == ["V001"]


def test_worklist_is_for_field_workers_of_their_own_villages_only(api: Api) -> None:
    assert api.get("/api/v1/field/worklist", "clerk").status_code == 403
    assert api.get("/api/v1/field/worklist?village=V002", "field_worker").status_code == 403
    assert api.client.get("/api/v1/field/worklist").status_code == 401


def test_not_at_home_is_recorded_once_per_client_id(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    body = visit(pid, latitude=30.1, longitude=104.2, accuracy_m=12.0)
    first = api.post("/api/v1/field/visits", "field_worker", json=body)
    again = api.post("/api/v1/field/visits", "field_worker", json=body)
    assert first.status_code == 201 and again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["location"]["accuracy_m"] == 12.0
    changed = api.post("/api/v1/field/visits", "field_worker", json={**body, "note": "different"})
    assert changed.status_code == 409


def test_reported_dead_opens_one_review_case(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    body = visit(pid, "reported_dead", date_of_death="2026-11-20", note="儿子说上周去世")
    for _ in range(2):
        r = api.post("/api/v1/field/visits", "field_worker", json=body)
        assert r.status_code == 201, r.text
    cases = [
        c
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["person_id"] == pid
    ]
    assert len(cases) == 1 and cases[0]["reasons"][0] == "death_reported_by_family"
    assert r.json()["review_case_id"] == cases[0]["case_id"]


def test_visit_conflicts_are_problem_json(api: Api) -> None:
    other = pensioner(api, "011", "甲", village="V002")
    r = api.post("/api/v1/field/visits", "field_worker", json=visit(other))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert "no longer assigned" in r.json()["detail"]
    assert api.post("/api/v1/field/visits", "field_worker", json=visit("P-NOPE")).status_code == 404

    certified = pensioner(api, "021", "乙")
    ok = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": certified,
            "channel": "counter",
            "certified_on": "2026-11-27",
            "evidence": "came to the hall",
        },
    )
    assert ok.status_code == 201, ok.text
    late = api.post(
        "/api/v1/field/visits", "field_worker", json=visit(certified, listed_on="2026-11-26")
    )
    assert late.status_code == 409 and "already certified on 2026-11-27" in late.json()["detail"]

    dead = pensioner(api, "031", "丙")
    assert api.post(
        f"/api/v1/persons/{dead}/death",
        "clerk",
        json={"date_of_death": "2026-11-01", "source": "family_report"},
    ).status_code in (200, 201)
    gone = api.post("/api/v1/field/visits", "field_worker", json=visit(dead))
    assert gone.status_code == 409 and "terminated" in gone.json()["detail"]


def test_attachments_are_sealed_on_disk_and_idempotent(api: Api, tmp_path: Path) -> None:
    from backend.services.field import _safe

    pid = pensioner(api, "011", "甲")
    cid = str(uuid.uuid4())
    form = {"person_id": pid, "attestation": "我今天亲眼见到本人", "note": "卧床"}
    files = [("documents", ("d.jpg", b"\xff\xd8 scanned hukou page 110105", "image/jpeg"))]
    first = api.post(
        f"/api/v1/field/visits/{cid}/attachments", "field_worker", data=form, files=files
    )
    again = api.post(
        f"/api/v1/field/visits/{cid}/attachments", "field_worker", data=form, files=files
    )
    assert first.status_code == 201 and again.json() == first.json() == {
        "client_id": cid,
        "person_id": pid,
        "documents": 1,
        "attestation": True,
    }
    assert api.post(
        "/api/v1/field/visits/../x/attachments", "field_worker", data=form
    ).status_code in (404, 422)
    assert (
        api.post(
            f"/api/v1/field/visits/{cid}/attachments",
            "field_worker",
            data={**form, "attestation": " "},
        ).status_code
        == 422
    )
    assert _safe(cid) == cid
    stored = list((tmp_path / "data" / "field_visits" / cid).iterdir())
    assert len(stored) == 2  # the record and one document, each once
    assert not any(b"hukou" in f.read_bytes() or "卧床".encode() in f.read_bytes() for f in stored)


def test_refer_failed_needs_a_failed_field_certification_of_the_caller(api: Api) -> None:
    pid = pensioner(api, "011", "甲")
    r = api.post(
        "/api/v1/field/visits",
        "field_worker",
        json=visit(pid, "refer_failed", certification_id="cer_nope"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "certification_id"


def test_field_routes_never_answer_500_on_schema_shaped_input(api: Api) -> None:
    import schemathesis

    from tests.backend.test_api_fuzz import _fuzz

    pensioner(api, "011", "甲")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    chosen = [
        op
        for op in (r.ok() for r in schema.get_all_operations())
        if op.path.startswith("/api/v1/field")
    ]
    assert len(chosen) == 3, [op.label for op in chosen]
    statuses: list[int] = []
    failures: list[str] = []
    for op in chosen:
        _fuzz(op, api.auth("field_worker"), statuses, failures)
    assert failures == []
    assert len(statuses) >= 15 and any(s < 300 for s in statuses)
