"""Grievances (申诉/信访): due in 15 working days, assigned, resolved with the decision they
change; overdue ones on the console; recorded from the console with a CSRF token."""

from __future__ import annotations

import re
from datetime import date

import pytest

from backend.services.grievances import add_working_days
from tests.backend.conftest import PASSWORD, Api
from tests.notices.helpers import pensioner


@pytest.mark.parametrize(
    "start, days, due",
    [
        ("2026-11-27", 15, "2026-12-18"),  # a Friday: three weeks on
        ("2026-11-28", 1, "2026-11-30"),  # received on a Saturday: Monday is the first day
        ("2026-11-30", 5, "2026-12-07"),
        ("2026-12-04", 1, "2026-12-07"),  # Friday + 1 working day: Monday
    ],
)
def test_working_days_skip_weekends(start: str, days: int, due: str) -> None:
    assert add_working_days(date.fromisoformat(start), days) == date.fromisoformat(due)


def _suspended(api: Api) -> tuple[str, str]:
    pid = pensioner(api, "011", awarded_on="2026-06-01", name="钱大妈")
    r = api.post(
        f"/api/v1/persons/{pid}/suspensions",
        "clerk",
        json={"reason": "manual", "from_month": "2026-11", "note": "核查"},
    )
    assert r.status_code == 201, r.text
    return pid, str(r.json()["id"])


def test_record_assign_resolve_with_the_decision(api: Api) -> None:
    pid, sus = _suspended(api)
    other = pensioner(api, "021", awarded_on="2026-06-01", name="孙大爷")
    body = {"person_id": pid, "category": "suspension", "description": "本人健在，要求恢复发放"}
    r = api.post("/api/v1/grievances", "clerk", json=body)
    assert r.status_code == 201, r.text
    g = r.json()
    assert (g["received_on"], g["due_on"], g["status"], g["overdue"]) == (
        "2026-11-27",
        "2026-12-18",
        "open",
        False,
    )
    gid = g["grievance_id"]
    # the attacker's side: another person's decision, an unknown user, a bad category
    wrong = api.post(
        "/api/v1/grievances",
        "clerk",
        json={**body, "person_id": other, "decision_kind": "suspension", "decision_id": sus},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "unknown_decision")
    nobody = api.post(f"/api/v1/grievances/{gid}/assign", "clerk", json={"assignee": "ghost"})
    assert (nobody.status_code, nobody.json()["code"]) == (422, "unknown_user")
    assert (
        api.post("/api/v1/grievances", "clerk", json={**body, "category": "x"}).status_code == 422
    )
    assert api.post("/api/v1/grievances", "field_worker", json=body).status_code == 403

    assigned = api.post(f"/api/v1/grievances/{gid}/assign", "clerk", json={"assignee": "reviewer"})
    assert assigned.json()["assignee"] == "reviewer"
    unnamed = api.post(
        f"/api/v1/grievances/{gid}/resolve",
        "reviewer",
        json={"outcome": "upheld", "resolution": "核实健在"},
    )
    assert (unnamed.status_code, unnamed.json()["code"]) == (422, "decision_required")
    done = api.post(
        f"/api/v1/grievances/{gid}/resolve",
        "reviewer",
        json={
            "outcome": "upheld",
            "resolution": "核实健在，解除暂停",
            "decision_kind": "suspension",
            "decision_id": sus,
        },
    )
    assert done.status_code == 200, done.text
    assert done.json()["decision"] == {"kind": "suspension", "id": sus}
    assert done.json()["status"] == "resolved"
    again = api.post(
        f"/api/v1/grievances/{gid}/resolve",
        "reviewer",
        json={"outcome": "not_upheld", "resolution": "x"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "not_open")


def test_overdue_grievances_show_on_the_console(api: Api) -> None:
    pid, _ = _suspended(api)
    late = api.post(
        "/api/v1/grievances",
        "clerk",
        json={
            "person_id": pid,
            "category": "payment",
            "description": "十月待遇未到账",
            "source": "kiosk",
            "source_ref": "HELP-0042",
            "received_on": "2026-10-01",
        },
    ).json()
    assert (late["due_on"], late["overdue"], late["source_ref"]) == (
        "2026-10-22",
        True,
        "HELP-0042",
    )
    fresh = api.post(
        "/api/v1/grievances",
        "clerk",
        json={"person_id": pid, "category": "other", "description": "咨询认证方式"},
    ).json()
    listed = api.get("/api/v1/grievances?overdue=true", "auditor").json()
    assert [g["grievance_id"] for g in listed] == [late["grievance_id"]]

    client = api.client
    client.post("/console/login", data={"username": "reviewer", "password": PASSWORD})
    page = client.get("/console/grievances").text
    overdue_table = page.split('id="overdue"')[1].split("</table>")[0]
    assert "十月待遇未到账" in overdue_table and "咨询认证方式" not in overdue_table
    assert "咨询认证方式" in page.split('id="open"')[1]
    assert fresh["overdue"] is False

    form = {"person_id": pid, "category": "termination", "description": "对终止有异议"}
    assert client.post("/console/grievances", data=form).status_code == 403  # no CSRF token
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    done = client.post(
        "/console/grievances", data={**form, "csrf": token.group(1)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert "对终止有异议" in client.get("/console/grievances").text
    bad = client.post(
        "/console/grievances", data={**form, "person_id": "nobody", "csrf": token.group(1)}
    )
    assert bad.status_code == 404 and 'id="error"' in bad.text
