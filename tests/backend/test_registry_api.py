"""Enrolment, look-up, changes with history, cancellation and freezing, through HTTP."""

from __future__ import annotations

import sqlalchemy as sa

from tests.backend.conftest import Api, valid_id

MALE_1975 = valid_id("110105", "19750310", "001")


def test_enrol_derives_birth_date_gender_and_masks(api: Api) -> None:
    r = api.post(
        "/api/v1/persons",
        "clerk",
        json={
            "id_number": MALE_1975,
            "name": "王建国",
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["birth_date"] == "1975-03-10"
    assert body["gender"] == "male"
    assert body["status"] == "enrolled"
    assert body["id_number_masked"] == "110105********" + MALE_1975[-4:]


def test_id_number_full_only_for_roles_that_need_it(api: Api) -> None:
    pid = api.enrol(MALE_1975)
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["id_number"] == MALE_1975
    seen_by_reviewer = api.get(f"/api/v1/persons/{pid}", "reviewer").json()
    assert seen_by_reviewer["id_number"] == "110105********" + MALE_1975[-4:]
    assert MALE_1975 not in api.get(f"/api/v1/persons/{pid}", "auditor").text


def test_id_number_is_encrypted_at_rest(api: Api, db_url: str) -> None:
    api.enrol(MALE_1975)
    from backend.db import engine_for

    with engine_for(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM person")).all()
    dump = repr(rows)
    assert MALE_1975 not in dump and MALE_1975[6:14] not in dump.replace("1975-03-10", "")


def test_look_up_by_id_number_including_old_15_digit_form(api: Api) -> None:
    pid = api.enrol("11010519491231002X", name="李秀英", enrolled_on="2010-07-05")
    assert (
        api.get("/api/v1/persons", "reviewer", params={"id_number": "110105491231002"}).json()[
            "person_id"
        ]
        == pid
    )
    assert (
        api.get(
            "/api/v1/persons",
            "reviewer",
            params={"id_number": valid_id("110105", "19800101", "003")},
        ).status_code
        == 404
    )


def test_fifteen_digit_enrolment_keeps_both_numbers(api: Api) -> None:
    pid = api.enrol("110105491231002", name="李秀英", enrolled_on="2010-07-05")
    person = api.get(f"/api/v1/persons/{pid}", "clerk").json()
    assert person["id_number"] == "11010519491231002X"
    assert person["old_id_number"] == "110105491231002"


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def _count_persons(db_url: str) -> int:
    from backend.db import engine_for

    with engine_for(db_url).connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM person")).scalar_one()


def test_bad_enrolments_are_refused_and_change_nothing(api: Api, db_url: str) -> None:
    base = {"name": "赵六", "village_code": "V001", "enrolled_on": "2015-01-01"}
    cases = [
        (
            {**base, "id_number": MALE_1975[:-1] + ("0" if MALE_1975[-1] != "0" else "1")},
            "check character",
        ),
        ({**base, "id_number": valid_id("110105", "19750231", "001")}, "impossible birth date"),
        ({**base, "id_number": valid_id("110105", "20000101", "001")}, "aged 16"),
        ({**base, "id_number": MALE_1975, "student": True}, "students"),
        ({**base, "id_number": MALE_1975, "urban_employee_pension": True}, "urban employee"),
        ({**base, "id_number": MALE_1975, "gender": "female"}, "disagrees"),
        ({**base, "id_number": MALE_1975, "birth_date": "1975-03-11"}, "disagrees"),
        ({**base, "id_number": MALE_1975, "village_code": "NOPE"}, "unknown village"),
        ({**base, "id_number": MALE_1975, "enrolled_on": "2009-01-01"}, "scheme started"),
        ({**base, "id_number": MALE_1975, "enrolled_on": "2027-01-01"}, "future"),
        ({**base, "id_number": MALE_1975, "parent_person_ids": ["pnothere"]}, "unknown persons"),
    ]
    for body, words in cases:
        problem = _problem(api.post("/api/v1/persons", "clerk", json=body), 422)
        assert words in problem["detail"] + repr(problem.get("errors")), (body, problem)
    assert _count_persons(db_url) == 0


def test_duplicate_enrolment_is_a_conflict(api: Api, db_url: str) -> None:
    api.enrol(MALE_1975)
    _problem(
        api.post(
            "/api/v1/persons",
            "clerk",
            json={
                "id_number": MALE_1975,
                "name": "王建国",
                "village_code": "V001",
                "enrolled_on": "2011-01-01",
            },
        ),
        409,
    )
    assert _count_persons(db_url) == 1


def test_roles_are_checked_on_every_route(api: Api) -> None:
    body = {
        "id_number": MALE_1975,
        "name": "王建国",
        "village_code": "V001",
        "enrolled_on": "2010-08-01",
    }
    _problem(api.client.post("/api/v1/persons", json=body), 401)
    _problem(
        api.client.post("/api/v1/persons", json=body, headers={"Authorization": "Bearer nonsense"}),
        401,
    )
    _problem(api.post("/api/v1/persons", "reviewer", json=body), 403)
    _problem(api.post("/api/v1/persons", "auditor", json=body), 403)
    _problem(
        api.post(
            "/api/v1/users",
            "clerk",
            json={"username": "x", "password": "longenough", "role": "clerk"},
        ),
        403,
    )
    _problem(api.post("/api/v1/interest-runs", "clerk", json={"year": 2010}), 403)


def test_field_worker_sees_only_own_villages(api: Api) -> None:
    here = api.enrol(MALE_1975, village="V001")
    there = api.enrol(valid_id("110105", "19700101", "003"), name="钱七", village="V002")
    assert api.get(f"/api/v1/persons/{here}", "field_worker").status_code == 200
    _problem(api.get(f"/api/v1/persons/{there}", "field_worker"), 403)


def test_changes_keep_history(api: Api) -> None:
    pid = api.enrol(MALE_1975)
    r = api.patch(
        f"/api/v1/persons/{pid}",
        "clerk",
        json={"phone": "13800000000", "village_code": "V002", "reason": "moved within the county"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["village_code"] == "V002"
    history = api.get(f"/api/v1/persons/{pid}/history", "auditor").json()
    changed = {(h["field"], h["old_value"], h["new_value"]) for h in history}
    assert ("village_code", "V001", "V002") in changed
    assert ("phone", None, "138****0000") in changed  # the history keeps a phone masked
    assert all(h["changed_by"] == "user:clerk" for h in history)
    _problem(
        api.patch(f"/api/v1/persons/{pid}", "clerk", json={"status": "receiving", "reason": "x"}),
        422,
    )


def test_cancellation_keeps_the_record_and_allows_re_enrolment(api: Api) -> None:
    pid = api.enrol(MALE_1975)
    r = api.post(
        f"/api/v1/persons/{pid}/cancel",
        "clerk",
        json={"cancelled_on": "2020-05-01", "reason": "moved to another county"},
    )
    assert r.json()["status"] == "cancelled"
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "cancelled"
    again = api.enrol(MALE_1975, enrolled_on="2024-01-02")
    assert again != pid
    assert (
        api.get("/api/v1/persons", "clerk", params={"id_number": MALE_1975}).json()["person_id"]
        == again
    )


def test_freeze_blocks_contributions_until_unfrozen(api: Api) -> None:
    pid = api.enrol(MALE_1975)
    assert (
        api.post(
            f"/api/v1/persons/{pid}/freeze", "clerk", json={"reason": "fraud investigation"}
        ).json()["status"]
        == "frozen"
    )
    _problem(api.pay(pid, 2011, 10000, "2011-05-01"), 422)
    _problem(api.post(f"/api/v1/persons/{pid}/freeze", "clerk", json={"reason": "again"}), 409)
    assert (
        api.post(f"/api/v1/persons/{pid}/unfreeze", "clerk", json={"reason": "cleared"}).json()[
            "status"
        ]
        == "enrolled"
    )
    assert api.pay(pid, 2011, 10000, "2011-05-01").status_code == 201


def test_oversized_body_is_413(api: Api) -> None:
    big = {
        "id_number": MALE_1975,
        "name": "王" * 10,
        "village_code": "V001",
        "enrolled_on": "2010-08-01",
        "household_id": "x" * 2_000_000,
    }
    _problem(api.post("/api/v1/persons", "clerk", json=big), 413)


def test_healthz_and_openapi(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/contributions" in spec["paths"]
    assert api.client.get("/docs").status_code == 200
