"""The county review's `terminate` decision under the four-eyes rule: a first reviewer
proposes (checked at once, nothing ends yet), the same reviewer cannot confirm, a second one
does, and the settlement service ends the entitlement and opens the recovery order.

The pensioner: enrolled 2010-07-05, awarded 2010-07-20 (first month 2010-08), no account, so
each paid month is the basic pension alone, 5500 fen (DOMAIN.md; test_benefits_worked).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from backend import clock
from backend.db import alembic_config, engine_for
from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.backend.test_benefits_worked import run
from tests.backend.test_cli import nongbao
from tests.live import server_env

OLD = valid_id("110105", "19450801", "021")  # born 1945-08-01, already 60 at the scheme start
MONTH_FEN = 5500


def _pensioner(api: Api, number: str = OLD, name: str = "赵大爷") -> str:
    pid = api.enrol(number, name=name, enrolled_on="2010-07-05")
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert r.status_code == 201, r.text
    for period in ("2010-08", "2010-09", "2010-10"):
        run(api, period)
    return pid


def _death_record_case(api: Api, pid: str, died: str = "2010-09-03") -> str:
    """The civil registry has the ID number with another spelling of the name: referred."""
    text = f"id_number,name,date_of_death\n{OLD},赵大耶,{died}\n".encode()
    r = api.post("/api/v1/imports/death-registry", files={"file": ("deaths.csv", text, "text/csv")})
    assert r.json()["referred"] == 1, r.text
    [case] = [
        c for c in api.get("/api/v1/review/cases", "reviewer").json() if c["person_id"] == pid
    ]
    return str(case["case_id"])


def _case_row(db_url: str, person_id: str, reasons: list[str]) -> str:
    """A case as the certification side refers it (that path is tested elsewhere)."""
    case_id = f"case_{person_id[-12:]}"
    with engine_for(db_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO review_case (id, person_id, reasons, status, created_at) "
                "VALUES (:id, :pid, :reasons, 'open', :at)"
            ),
            {
                "id": case_id,
                "pid": person_id,
                "reasons": json.dumps(reasons),
                "at": clock.now(),
            },
        )
    return case_id


def _second_reviewer(api: Api, name: str = "reviewer2") -> dict[str, str]:
    r = api.post(
        "/api/v1/users", "admin", json={"username": name, "password": PASSWORD, "role": "reviewer"}
    )
    assert r.status_code == 201, r.text
    token = api.client.post(
        "/api/v1/auth/token", data={"username": name, "password": PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _decide(api: Api, case_id: str, headers: dict[str, str] | None = None, **body: Any):
    path = f"/api/v1/review/cases/{case_id}/decision"
    if headers is None:
        return api.post(path, "reviewer", json=body)
    return api.client.post(path, headers=headers, json=body)


def _case(api: Api, case_id: str) -> dict[str, Any]:
    return api.get(f"/api/v1/review/cases/{case_id}", "reviewer").json()


def _settlements(db_url: str, person_id: str) -> list[tuple[str, str, int]]:
    with engine_for(db_url).connect() as conn:
        return [
            (r.source, r.reason, r.recovery_due_fen)
            for r in conn.execute(
                sa.text("SELECT source, reason, recovery_due_fen FROM death WHERE person_id = :p"),
                {"p": person_id},
            )
        ]


def _ledger_ok(api: Api) -> bool:
    return api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True


def test_terminate_for_death_needs_a_second_reviewer_then_settles(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    case_id = _death_record_case(api, pid)

    first = _decide(
        api,
        case_id,
        decision="terminate",
        note="死亡证明已核实，系登记姓名笔误",
        terminate_reason="death",
        effective_on="2010-09-03",
    )
    assert first.status_code == 200, first.text
    assert first.json() == {
        "case_id": case_id,
        "status": "pending_second",
        "decision": "terminate",
        "needs_second_reviewer": True,
        "terminate_reason": "death",
        "effective_on": "2010-09-03",
    }
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "receiving"
    assert _settlements(db_url, pid) == []  # proposed only: nothing ended yet
    pending = _case(api, case_id)
    assert (pending["pending_decision"], pending["terminate_reason"], pending["effective_on"]) == (
        "terminate",
        "death",
        "2010-09-03",
    )

    same = _decide(api, case_id, decision="terminate", note="我确认", terminate_reason="death")
    assert same.status_code == 403 and "four-eyes" in same.json()["detail"]
    assert _case(api, case_id)["status"] == "pending_second"

    second = _second_reviewer(api)
    other_day = _decide(
        api, case_id, second, decision="terminate", note="日期不对", effective_on="2010-08-03"
    )
    assert other_day.status_code == 409 and "2010-09-03" in other_day.json()["detail"]
    assert _settlements(db_url, pid) == []

    done = _decide(api, case_id, second, decision="terminate", note="同意终止")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["status"], body["needs_second_reviewer"], body["terminate_reason"]) == (
        "closed",
        False,
        "death",
    )
    s = body["settlement"]
    # entitlement runs through September (the month of death): October is overpaid, no account
    assert (s["overpaid_fen"], s["offset_fen"], s["recovery_due_fen"]) == (MONTH_FEN, 0, MONTH_FEN)
    assert s["recovery_order_id"]
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "terminated"
    assert _settlements(db_url, pid) == [("review", "death", MONTH_FEN)]
    closed = _case(api, case_id)
    assert (closed["status"], closed["second_reviewer"], closed["effective_on"]) == (
        "closed",
        "reviewer2",
        "2010-09-03",
    )
    assert _ledger_ok(api)
    again = _decide(api, case_id, second, decision="terminate", note="再来一次")
    assert again.status_code == 409


def test_terminate_for_another_pension_recovers_from_its_start(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    case_id = _case_row(db_url, pid, ["other_pension"])
    proposal: dict[str, Any] = {
        "decision": "terminate",
        "terminate_reason": "other_pension",
        "effective_on": "2010-09-01",
    }
    first = _decide(api, case_id, note="社保局比对：9月起领取职工养老保险", **proposal)
    assert first.status_code == 200 and first.json()["status"] == "pending_second", first.text

    done = _decide(api, case_id, _second_reviewer(api), note="核实无误", **proposal)
    assert done.status_code == 200, done.text
    s = done.json()["settlement"]
    assert (s["overpaid_fen"], s["recovery_due_fen"], s["funeral_grant_fen"]) == (
        2 * MONTH_FEN,
        2 * MONTH_FEN,
        0,
    )  # September and October, paid while the other pension ran
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "terminated"
    assert _settlements(db_url, pid) == [("review", "other_pension", 2 * MONTH_FEN)]
    assert _ledger_ok(api)


def test_bad_terminate_proposals_are_422_and_change_nothing(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    case_id = _death_record_case(api, pid)
    no_award = api.enrol(valid_id("110105", "19500101", "031"), name="钱奶奶")
    no_award_case = _case_row(db_url, no_award, ["other_pension"])
    base: dict[str, Any] = {"decision": "terminate", "note": "终止"}
    for case, body, fields in (
        (case_id, {}, ["terminate_reason", "effective_on"]),
        (case_id, {"terminate_reason": "death"}, ["effective_on"]),
        (case_id, {"effective_on": "2010-09-03"}, ["terminate_reason"]),
        (case_id, {"terminate_reason": "death", "effective_on": "2026-11-28"}, ["effective_on"]),
        (case_id, {"terminate_reason": "death", "effective_on": "1940-01-01"}, ["effective_on"]),
        (case_id, {"terminate_reason": "moved_away", "effective_on": "2010-09-03"}, None),
        (case_id, {"terminate_reason": "death", "effective_on": "2010-02-30"}, None),
        (case_id, {"decision": "approve", "terminate_reason": "death"}, ["terminate_reason"]),
        (no_award_case, {"terminate_reason": "other_pension", "effective_on": "2010-09-01"}, []),
    ):
        r = _decide(api, case, **{**base, **body})
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        if fields is None:  # refused by the request schema: some field error, named
            assert problem["errors"], problem
        else:
            assert [e["field"] for e in problem.get("errors", [])] == fields, problem
    for case, person in ((case_id, pid), (no_award_case, no_award)):
        detail = _case(api, case)
        assert (detail["status"], detail["decision"], detail["terminate_reason"]) == (
            "open",
            None,
            None,
        )
        assert detail["effective_on"] is None and detail["first_reviewer"] is None
        assert _settlements(db_url, person) == []
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "receiving"


def test_console_proposes_shows_and_confirms_a_termination(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    case_id = _death_record_case(api, pid)
    client = api.client
    _second_reviewer(api)

    def sign_in(name: str) -> str:
        client.post("/console/login", data={"username": name, "password": PASSWORD})
        page = client.get(f"/console/cases/{case_id}")
        assert page.status_code == 200
        return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]  # no csrf field fails here

    csrf = sign_in("reviewer")
    page = client.get(f"/console/cases/{case_id}").text
    assert 'value="terminate"' in page and "领取城镇职工养老保险" in page and "死亡" in page
    form = {"decision": "terminate", "note": "死亡证明已核实", "csrf": csrf}
    bad = client.post(
        f"/console/cases/{case_id}/decision",
        data={**form, "terminate_reason": "death", "effective_on": "2010-13-01"},
    )
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.text
    unknown = client.post(
        f"/console/cases/{case_id}/decision",
        data={**form, "terminate_reason": "moved_away", "effective_on": "2010-09-03"},
    )
    assert unknown.status_code == 422 and "a reason to terminate is one of" in unknown.text
    missing = client.post(f"/console/cases/{case_id}/decision", data=form)
    assert missing.status_code == 422 and "terminate needs a reason" in missing.text
    assert _case(api, case_id)["status"] == "open"
    proposed = client.post(
        f"/console/cases/{case_id}/decision",
        data={**form, "terminate_reason": "death", "effective_on": "2010-09-03"},
        follow_redirects=False,
    )
    assert proposed.headers["location"] == "/console/cases?msg=decided_pending"

    csrf = sign_in("reviewer2")
    page = client.get(f"/console/cases/{case_id}").text
    shown = re.search(r'<p id="proposed-termination">(.*?)</p>', page, re.S)
    assert shown and "死亡" in shown.group(1) and "2010-09-03" in shown.group(1)
    assert "reviewer" in shown.group(1)
    confirmed = client.post(
        f"/console/cases/{case_id}/decision",
        data={
            "decision": "terminate",
            "note": "同意",
            "csrf": csrf,
            "terminate_reason": "death",
            "effective_on": "2010-09-03",
        },
        follow_redirects=False,
    )
    assert confirmed.headers["location"] == "/console/cases?msg=decided", confirmed.text
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "terminated"
    assert _ledger_ok(api)


def test_db_upgrade_adds_the_terminate_columns(db_url: str, tmp_path: Path) -> None:
    """`nongbao db upgrade` from 0004 (the release before) on SQLite and PostgreSQL."""
    command.downgrade(alembic_config(db_url), "0004")
    engine = engine_for(db_url)
    engine.dispose()
    assert "effective_on" not in {c["name"] for c in sa.inspect(engine).get_columns("review_case")}
    r = nongbao(["db", "upgrade"], server_env(db_url, tmp_path))
    head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert r.returncode == 0 and f"revision {head}" in r.stdout, r.stderr
    engine.dispose()
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("review_case")}
    assert columns["terminate_reason"]["nullable"] and columns["effective_on"]["nullable"]
    assert isinstance(columns["effective_on"]["type"], sa.Date)
