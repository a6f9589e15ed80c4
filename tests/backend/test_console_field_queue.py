"""The review console for the field: a home visit's failed face check shows who stood at the
door (an audited read of a sealed photo), villages by name, the queue ordered by priority,
and the overdue list an officer can work from (masked names, days, channel, phone)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from backend.db import engine_for, session_scope
from backend.models import AuditEvent, Certification
from backend.policy.model import DEFAULT_POLICY_FILE, load_policy
from backend.services.queue import Priority
from tests.backend.cert_helpers import (
    ENROL_A,
    OTHER,
    certify,
    challenge,
    enrol_face,
    field_phone,
    photo,
)
from tests.backend.conftest import PASSWORD, Api, make_settings, valid_id
from tests.backend.test_field_routes import pensioner, visit
from tests.backend.test_review_paging import T0, _add_case, _people
from tests.conftest import TODAY


def _console(api: Api) -> Any:
    client = api.client
    r = client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return client


def _field_mismatch(api: Api) -> tuple[str, str]:
    """A home visit whose face is someone else's, referred by the app: (person, case)."""
    pid = pensioner(api, "011", "王秀英", homebound=True)
    enrol_face(api, pid, ENROL_A)
    worker, phone = api.auth("field_worker"), field_phone(api)
    ch = challenge(api, worker, pid)
    cid = str(uuid.uuid4())
    failed = certify(
        api,
        worker,
        pid,
        ch,
        photo(OTHER),
        channel="field",
        extra={"client_id": cid},
        req_headers={"Idempotency-Key": cid},
        key=phone,
    ).json()
    assert failed["outcome"] == "failed", failed
    refer = visit(pid, "refer_failed", certification_id=failed["certification_id"])
    r = api.post("/api/v1/field/visits", "field_worker", json=refer)
    assert r.status_code == 201, r.text
    return pid, r.json()["review_case_id"]


def test_field_mismatch_case_shows_the_captured_photo_as_an_audited_read(
    api: Api, db_url: str
) -> None:
    pid, case_id = _field_mismatch(api)
    with session_scope(engine_for(db_url)) as s:
        cert = s.exec(
            select(Certification).where(
                Certification.person_id == pid, Certification.outcome == "failed"
            )
        ).one()
        # sealed at rest: not the JPEG the phone sent
        assert cert.captured_photo_enc and not cert.captured_photo_enc.startswith(b"\xff\xd8")
    page = _console(api).get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert re.search(
        r'id="captured-photo" src="data:image/jpeg;base64,[A-Za-z0-9+/=]{500,}"', page.text
    )
    assert "上门认证人脸不符" in page.text and "(东村," in page.text and "V001" not in page.text
    with session_scope(engine_for(db_url)) as s:
        reads = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "review.captured_photo.read", AuditEvent.subject == pid
            )
        ).all()
        assert len(reads) == 1 and reads[0].actor == "user:reviewer"


def test_the_queue_is_ordered_by_priority_with_village_names(api: Api, db_url: str) -> None:
    people = _people(api)  # P1 76 in 东村, P2 70 in 东村, P3 69 in 西村, P4 86 in 西村
    _add_case(db_url, "q1", people["P3"], ["grey_zone"], T0, "open")
    _add_case(db_url, "q2", people["P1"], ["liveness_failed"], T0 + timedelta(minutes=1), "open")
    _add_case(
        db_url, "q3", people["P4"], ["death_reported_by_family"], T0 + timedelta(minutes=2), "open"
    )
    _add_case(
        db_url,
        "q4",
        people["P2"],
        ["field_face_failed", "no_match"],
        T0 + timedelta(minutes=3),
        "open",
    )
    page = _console(api).get("/console/cases").text
    order = re.findall(r'/console/cases/([^"]+)" class="open-case"', page)
    assert order == ["q3", "q4", "q2", "q1"], order  # not oldest first
    assert "东村" in page and "西村" in page and ">V001<" not in page and ">V002<" not in page
    assert page.count('class="priority high"') == 2 and "优先级" in page


def test_priority_points_add_up_from_reason_age_overdue_and_waiting() -> None:
    rules = load_policy().review_priority  # the default county's [review_priority]

    def of(reasons: list[str], age: int, overdue: int, waited: int) -> Priority:
        return Priority.of(reasons, age, overdue, waited, rules)

    assert of(["grey_zone"], 60, 0, 0) == Priority(10, "low")
    assert of(["grey_zone"], 86, 0, 0).points == 10 + 5 * 3
    assert of(["grey_zone"], 115, 400, 90).points == 10 + 30 + 30 + 20  # capped
    assert of(["field_face_failed", "no_match"], 70, 45, 3) == Priority(40 + 6 + 5 + 3, "medium")
    assert of(["date_of_death:2026-11-20", "death_reported_by_family"], 80, 0, 0).level == "medium"
    assert of(["death_reported_by_family"], 86, 90, 2).level == "high"
    assert of(["some_new_code"], 60, 0, 0) == Priority(5, "low")  # other_reason


def test_the_priority_weights_are_the_countys_policy(api: Api, db_url: str, tmp_path: Path) -> None:
    """[review_priority] in the policy file orders the console's queue: a county that puts
    a failed liveness check above a reported death sees its queue in that order; a file whose
    points make no sense is refused on load."""
    from fastapi.testclient import TestClient

    from backend.app import create_app

    people = _people(api)  # P1 76 in 东村, P4 86 in 西村
    _add_case(db_url, "d1", people["P4"], ["death_reported_by_family"], T0, "open")
    _add_case(db_url, "l1", people["P1"], ["liveness_failed"], T0 + timedelta(minutes=1), "open")

    def order(client: Any) -> list[str]:
        r = client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
        assert r.status_code == 200, r.text
        page = client.get("/console/cases").text
        return re.findall(r'/console/cases/([^"]+)" class="open-case"', page)

    assert order(api.client) == ["d1", "l1"]  # the default county: a death first
    default = DEFAULT_POLICY_FILE.read_text("utf-8")
    custom = tmp_path / "county.toml"
    custom.write_text(
        default.replace("liveness_failed = 15", "liveness_failed = 90").replace(
            "death_reported_by_family = 40", "death_reported_by_family = 1"
        ),
        "utf-8",
    )
    assert load_policy(custom).review_priority.reasons["liveness_failed"] == 90
    settings = make_settings(db_url, tmp_path).model_copy(update={"policy_file": custom})
    with TestClient(create_app(settings, today=lambda: TODAY)) as client:
        assert order(client) == ["l1", "d1"]
    broken = tmp_path / "broken.toml"
    broken.write_text(default.replace("medium_at = 35", "medium_at = 600"), "utf-8")
    with pytest.raises(ValueError, match="medium_at must be below high_at"):
        load_policy(broken)
    missing = tmp_path / "missing.toml"
    missing.write_text(default[: default.index("[review_priority]")], "utf-8")
    with pytest.raises(ValueError, match="review_priority"):
        load_policy(missing)


def test_overdue_list_masks_names_and_shows_days_channel_and_phone(api: Api, db_url: str) -> None:
    lapsed = api.enrol(valid_id("110105", "19500101", "011"), name="王秀英", phone="13912345678")
    r = api.post(f"/api/v1/persons/{lapsed}/award", "clerk", json={"awarded_on": "2025-06-01"})
    assert r.status_code in (200, 201), r.text
    never = pensioner(api, "021", "欧阳娜娜", village="V002")
    with engine_for(db_url).begin() as conn:
        conn.execute(sa.text("UPDATE certification SET certified_on = '2025-06-01'"))
        conn.execute(sa.text("DELETE FROM certification WHERE person_id = :p"), {"p": never})
        conn.execute(sa.text("UPDATE person SET phone_enc = NULL WHERE id = :p"), {"p": never})
    client = _console(api)
    page = client.get("/console/due").text
    lapsed_row = re.search(rf'<tr data-person="{lapsed}">(.*?)</tr>', page, re.S)
    never_row = re.search(rf'<tr data-person="{never}">(.*?)</tr>', page, re.S)
    assert lapsed_row and never_row, page
    cells = [
        re.sub(r"<[^>]+>", "", c)  # the text of the cell (the name links to the person's page)
        for c in re.findall(r"<td[^>]*>(.*?)</td>", lapsed_row.group(1), re.S)
    ]
    assert cells[0].startswith("王**") and cells[1] == "东村"
    valid_until = cells[3]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", valid_until)
    days = int(cells[4])
    assert days > 0 and "待遇核定" in cells[5] and re.fullmatch(r"\d{3}\*+\d{4}", cells[6]), cells
    never_cells = [
        re.sub(r"<[^>]+>", "", c)
        for c in re.findall(r"<td[^>]*>(.*?)</td>", never_row.group(1), re.S)
    ]
    assert never_cells[0] == "欧***" and never_cells[1] == "西村" and never_cells[4] == "从未认证"
    assert never_cells[6] == "无电话"
    assert "王秀英" not in page and "欧阳娜娜" not in page
    # the never-certified first, then the longest overdue
    assert page.index(f'data-person="{never}"') < page.index(f'data-person="{lapsed}"')
