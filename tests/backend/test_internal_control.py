"""Internal control (内控) in the service layer: every irreversible act takes two people, proven
through the API on both databases, from the side of a clerk who would act alone.

The pensioner: enrolled 2010-07-05, awarded 2010-07-20 (first month 2010-08), no account, so
each paid month is the basic pension alone, 5500 fen (DOMAIN.md; test_benefits_worked).
"""

from __future__ import annotations

import csv
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from backend.db import engine_for
from tests.backend.conftest import PASSWORD, Api, valid_id
from tests.backend.test_benefits_worked import run
from tests.backend.test_cli import nongbao
from tests.live import server_env

OLD = valid_id("110105", "19450801", "021")  # already 60 at the scheme start
MONTH = 5500
SETTLEMENT = (
    "overpaid_fen",
    "inheritable_fen",
    "offset_fen",
    "paid_to_heirs_fen",
    "returned_to_fund_fen",
    "recovery_due_fen",
    "funeral_grant_fen",
)


def _pensioner(api: Api, number: str = OLD, name: str = "赵大爷", bank: str | None = None) -> str:
    pid = api.enrol(number, name=name, enrolled_on="2010-07-05")
    body = {"awarded_on": "2010-07-20", **({"bank_account": bank} if bank else {})}
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json=body)
    assert r.status_code == 201, r.text
    return pid


def _status(api: Api, pid: str) -> str:
    return str(api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"])


def _events(db_url: str, action: str) -> int:
    with engine_for(db_url).connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM audit_event WHERE action = :a"), {"a": action}
            ).scalar_one()
        )


def _report(api: Api, pid: str, died: str, who: str = "clerk") -> str:
    r = api.post(f"/api/v1/persons/{pid}/death", who, json={"date_of_death": died})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["payment_held"] is True
    return str(r.json()["termination_id"])


def _ledger_clean(api: Api) -> None:
    check = api.get("/api/v1/ledger/check", "auditor").json()
    assert check["ok"] is True, check


# --- deaths -----------------------------------------------------------------------------------


def test_one_clerk_cannot_end_a_pension_a_second_one_settles(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    assert run(api, "2010-08")["paid"] == 1
    tid = _report(api, pid, "2010-09-15")
    assert _status(api, pid) == "receiving"  # a report, not a settlement
    assert run(api, "2010-09")["paid"] == 0  # payment held from the next payroll

    same = api.post(f"/api/v1/terminations/{tid}/confirm", "clerk", json={})
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"
    assert _status(api, pid) == "receiving"
    twice = api.post(f"/api/v1/persons/{pid}/death", "clerk2", json={"date_of_death": "2010-09-15"})
    assert twice.status_code == 409 and twice.json()["code"] == "termination_open"
    assert api.post(f"/api/v1/terminations/{tid}/confirm", "auditor", json={}).status_code == 403

    r = api.post(f"/api/v1/terminations/{tid}/confirm", "clerk2", json={"note": "certificate"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert set(SETTLEMENT) <= set(s) and s["status"] == "confirmed"
    # entitled through September, which was held: paid to the heirs, nothing overpaid
    assert (s["overpaid_fen"], s["owed_months_paid_to_heirs_fen"]) == (0, MONTH)
    assert _status(api, pid) == "terminated"
    again = api.post(f"/api/v1/terminations/{tid}/confirm", "admin", json={})
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    assert run(api, "2010-10")["paid"] == 0
    assert (_events(db_url, "termination.report"), _events(db_url, "termination.confirm")) == (
        1,
        1,
    )
    _ledger_clean(api)


def test_a_rejected_report_pays_the_held_months_as_arrears(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    tid = _report(api, pid, "2010-08-30")
    assert run(api, "2010-09")["paid"] == 0
    own = api.post(f"/api/v1/terminations/{tid}/reject", "clerk", json={"note": "my mistake"})
    assert own.status_code == 403 and own.json()["code"] == "same_person_cannot_confirm"
    r = api.post(f"/api/v1/terminations/{tid}/reject", "clerk2", json={"note": "seen alive"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert _status(api, pid) == "receiving"
    october = run(api, "2010-10")
    assert (october["paid"], october["total_fen"]) == (1, 2 * MONTH)  # September as arrears
    late = api.post(f"/api/v1/terminations/{tid}/confirm", "admin", json={})
    assert late.status_code == 409 and late.json()["code"] == "not_pending"
    assert _events(db_url, "termination.reject") == 1
    _ledger_clean(api)


def test_reinstatement_reverses_the_settlement_and_pays_the_months_since(
    api: Api, db_url: str
) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    run(api, "2010-09")
    tid = _report(api, pid, "2010-08-10")
    s = api.post(f"/api/v1/terminations/{tid}/confirm", "clerk2", json={}).json()
    assert (s["overpaid_fen"], s["recovery_due_fen"]) == (MONTH, MONTH)  # September
    order = s["recovery_order_id"]
    assert run(api, "2010-10")["paid"] == 0 and run(api, "2010-11")["paid"] == 0

    proposed = api.post(f"/api/v1/terminations/{tid}/reinstate", "clerk", json={"note": "alive"})
    assert proposed.status_code == 202 and proposed.json()["status"] == "reinstate_pending"
    assert _status(api, pid) == "terminated"
    same = api.post(f"/api/v1/terminations/{tid}/reinstate", "clerk", json={"note": "alive"})
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"
    done = api.post(
        f"/api/v1/terminations/{tid}/reinstate", "admin", json={"note": "seen at the counter"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "reinstated" and done.json()["recovery_orders_cancelled"] == [
        order
    ]
    assert _status(api, pid) == "receiving"
    with engine_for(db_url).connect() as conn:
        assert conn.execute(
            sa.text("SELECT status FROM recovery_order WHERE id = :o"), {"o": order}
        ).scalar_one() == ("cancelled")
        reversals = conn.execute(
            sa.text(
                "SELECT count(*) FROM ledger_posting WHERE operation = 'reversal:settlement:death'"
            )
        ).scalar_one()
    assert reversals == 1  # a reversing posting, nothing deleted
    december = run(api, "2010-12")
    assert (december["paid"], december["total_fen"]) == (1, 3 * MONTH)  # Oct, Nov as arrears
    _ledger_clean(api)
    assert (
        api.post(f"/api/v1/terminations/{tid}/reinstate", "clerk2", json={"note": "again"}).json()[
            "code"
        ]
        == "not_confirmed"
    )
    # the person can be reported again later, and that report is settled on its own terms
    tid2 = _report(api, pid, "2010-12-25")
    later = api.post(f"/api/v1/terminations/{tid2}/confirm", "clerk2", json={})
    assert later.status_code == 200, later.text
    assert later.json()["overpaid_fen"] == 0
    _ledger_clean(api)


def test_the_registry_opens_pending_terminations_and_cases_never_settlements(
    api: Api, db_url: str
) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    text = f"id_number,name,date_of_death\n{OLD},赵大爷,2010-08-20\n".encode()
    r = api.post("/api/v1/imports/death-registry", files={"file": ("d.csv", text, "text/csv")})
    assert r.status_code == 200, r.text
    assert (r.json()["settled"], r.json()["pending"]) == (0, 1)
    assert _status(api, pid) == "receiving"
    [pending] = api.get("/api/v1/terminations", "reviewer").json()
    assert (pending["person_id"], pending["source"], pending["status"]) == (
        pid,
        "civil_registry",
        "pending",
    )
    [case] = [
        c for c in api.get("/api/v1/review/cases", "reviewer").json() if c["person_id"] == pid
    ]
    assert "death_record_found" in case["reasons"]
    assert run(api, "2010-09")["paid"] == 0  # held meanwhile
    tid = pending["termination_id"]
    own = api.post(f"/api/v1/terminations/{tid}/confirm", "admin", json={})  # the importer
    assert own.status_code == 403 and own.json()["code"] == "same_person_cannot_confirm"
    ok = api.post(f"/api/v1/terminations/{tid}/confirm", "reviewer", json={"note": "checked"})
    assert ok.status_code == 200, ok.text
    assert _status(api, pid) == "terminated"
    closed = api.get(f"/api/v1/review/cases/{case['case_id']}", "reviewer").json()
    assert (closed["status"], closed["decision"]) == ("closed", "terminate")


def test_a_review_terminate_proposal_is_the_same_pending_termination(api: Api) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    text = f"id_number,name,date_of_death\n{OLD},赵大耶,2010-08-20\n".encode()  # name differs
    assert (
        api.post(
            "/api/v1/imports/death-registry", files={"file": ("d.csv", text, "text/csv")}
        ).json()["referred"]
        == 1
    )
    [case] = [
        c for c in api.get("/api/v1/review/cases", "reviewer").json() if c["person_id"] == pid
    ]
    r = api.post(
        f"/api/v1/review/cases/{case['case_id']}/decision",
        "reviewer",
        json={
            "decision": "terminate",
            "note": "the registry is right",
            "terminate_reason": "death",
            "effective_on": "2010-08-20",
        },
    )
    assert r.status_code == 200, r.text
    [t] = api.get(f"/api/v1/persons/{pid}/terminations", "clerk").json()
    assert (t["status"], t["review_case_id"], t["source"]) == ("pending", case["case_id"], "review")
    assert run(api, "2010-09")["paid"] == 0  # the proposal holds payment like any report
    # the proposing reviewer is its reporter: they cannot confirm it through the other door
    same = api.post(f"/api/v1/terminations/{t['termination_id']}/confirm", "reviewer", json={})
    assert same.status_code == 403


# --- suspensions, reversals, bank accounts ----------------------------------------------------


def test_one_clerk_cannot_lift_an_investigation(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    sus = api.post(
        f"/api/v1/persons/{pid}/suspensions",
        "clerk",
        json={"reason": "investigation", "from_month": "2010-09", "note": "moved away?"},
    ).json()
    proposed = api.post(f"/api/v1/suspensions/{sus['id']}/lift", "clerk", json={"note": "home"})
    assert proposed.status_code == 202, proposed.text
    assert _status(api, pid) == "suspended"
    assert run(api, "2010-09")["paid"] == 0
    request_id = proposed.json()["request_id"]
    same = api.confirm(request_id, "clerk")
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"
    twice = api.post(f"/api/v1/suspensions/{sus['id']}/lift", "clerk2", json={"note": "home"})
    assert twice.status_code == 409 and twice.json()["code"] == "already_proposed"
    assert api.confirm(request_id, "clerk2").status_code == 200
    assert _status(api, pid) == "receiving"
    assert run(api, "2010-10")["total_fen"] == 2 * MONTH
    assert (
        _events(db_url, "suspension_lift.propose"),
        _events(db_url, "suspension_lift.confirm"),
    ) == (
        1,
        1,
    )
    # a manual suspension, one clerk's own, is still lifted by one clerk
    manual = api.post(
        f"/api/v1/persons/{pid}/suspensions",
        "clerk",
        json={"reason": "manual", "from_month": "2010-11", "note": "asked by the family"},
    ).json()
    lifted = api.post(f"/api/v1/suspensions/{manual['id']}/lift", "clerk", json={"note": "ok"})
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "user:clerk"


def test_a_reversal_needs_a_second_person_and_moves_money_once(api: Api, db_url: str) -> None:
    pid = api.enrol(valid_id("110105", "19700101", "015"))
    paid = api.pay(pid, 2011, 50000, "2011-05-01").json()
    proposed = api.post(
        f"/api/v1/contributions/{paid['contribution_id']}/reversal",
        "clerk",
        json={"reason": "keyed 500 instead of 100"},
    )
    assert proposed.status_code == 202 and proposed.json()["status"] == "pending"
    assert (
        api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["balance_fen"]
        == paid["balance_fen"]
        > 0
    )
    same = api.confirm(proposed.json()["request_id"], "clerk")
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"

    deciders = ["clerk2", "admin", "admin2", "reviewer"] * 2
    for who in set(deciders):
        api.auth(who)  # sign in first: the race is the confirmations, not the logins
    with ThreadPoolExecutor(max_workers=len(deciders)) as pool:
        answers = list(
            pool.map(lambda who: api.confirm(proposed.json()["request_id"], who), deciders)
        )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    assert sorted(a.json()["replayed"] for a in answers) == [False] + [True] * 7
    assert len({json.dumps(a.json()["result"], sort_keys=True) for a in answers}) == 1
    assert answers[0].json()["result"]["balance_fen"] == 0
    assert _events(db_url, "contribution_reversal.confirm") == 1
    with engine_for(db_url).connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM ledger_posting WHERE reverses = :p"),
                {"p": _posting_of(db_url, paid["contribution_id"])},
            ).scalar_one()
            == 1
        )
    _ledger_clean(api)


def _posting_of(db_url: str, contribution_id: str) -> str:
    with engine_for(db_url).connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT posting_id FROM contribution WHERE id = :c"), {"c": contribution_id}
            ).scalar_one()
        )


def _bank_rows(api: Api, run_id: str) -> list[list[str]]:
    api.approve_run(run_id)
    r = api.get(f"/api/v1/payroll-runs/{run_id}/bank-file?bank=ccb_csv")
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.text)))[1:-1]


def test_a_bank_account_change_needs_a_second_person_and_keeps_history(api: Api) -> None:
    pid = _pensioner(api, bank="6217 0000 1111")
    change = {"bank_account": "6228 0000 2222", "effective_on": "2026-11-27", "reason": "new card"}
    proposed = api.post(f"/api/v1/persons/{pid}/bank-account", "clerk", json=change)
    assert proposed.status_code == 202, proposed.text
    [row] = _bank_rows(api, run(api, "2010-08")["run_id"])
    assert row[1] == "6217 0000 1111"  # proposed is not changed
    same = api.confirm(proposed.json()["request_id"], "clerk")
    assert same.status_code == 403 and same.json()["code"] == "same_person_cannot_confirm"
    ok = api.confirm(proposed.json()["request_id"], "clerk2")
    assert ok.status_code == 200 and ok.json()["result"]["applied"] is True
    [row] = _bank_rows(api, run(api, "2010-09")["run_id"])
    assert row[1] == "6228 0000 2222"
    rejected = api.post(
        f"/api/v1/persons/{pid}/bank-account",
        "clerk",
        json={**change, "bank_account": "6228 9999 9999"},
    ).json()
    assert (
        api.post(
            f"/api/v1/approvals/{rejected['request_id']}/reject", "clerk2", json={"note": "fraud?"}
        ).status_code
        == 200
    )
    history = api.get(f"/api/v1/persons/{pid}/bank-account/history", "auditor").json()
    assert [
        (h["status"], h["proposed_by"], h["decided_by"], h["payload"]["new"]) for h in history
    ] == [
        ("confirmed", "user:clerk", "user:clerk2", "****2222"),
        ("rejected", "user:clerk", "user:clerk2", "****9999"),
    ]
    assert history[0]["payload"]["old"] == "****1111"  # masked: the bank file has it whole


# --- payroll release --------------------------------------------------------------------------


def test_no_bank_file_before_a_second_admin_approves(api: Api, db_url: str) -> None:
    _pensioner(api)
    run_id = run(api, "2010-08")["run_id"]
    before = api.get(f"/api/v1/payroll-runs/{run_id}/bank-file")
    assert before.status_code == 409 and before.json()["code"] == "payroll_not_approved"
    own = api.post(f"/api/v1/payroll-runs/{run_id}/approve", "admin")
    assert own.status_code == 403 and own.json()["code"] == "same_person_cannot_confirm"
    assert api.post(f"/api/v1/payroll-runs/{run_id}/approve", "clerk").status_code == 403
    assert api.get(f"/api/v1/payroll-runs/{run_id}/bank-file").status_code == 409
    ok = api.post(f"/api/v1/payroll-runs/{run_id}/approve", "admin2")
    assert ok.status_code == 200 and ok.json()["approved_by"] == "user:admin2"
    again = api.post(f"/api/v1/payroll-runs/{run_id}/approve", "admin2")
    assert again.status_code == 409 and again.json()["code"] == "not_pending"
    assert api.get(f"/api/v1/payroll-runs/{run_id}/bank-file").status_code == 200
    assert api.get(f"/api/v1/payroll-runs/{run_id}/lines").json()["approved_by"] == "user:admin2"
    assert _events(db_url, "payroll.approve") == 1


def test_the_command_line_approves_with_a_second_admin_s_password(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    """`nongbao payroll run` prepares as user:cli; `payroll approve --by` names a real admin who
    proves it with their password; then `payroll bank-file` writes the file."""
    _pensioner(api)
    env = server_env(db_url, tmp_path)
    prepared = nongbao(["payroll", "run", "--period", "2010-08", "--json"], env)
    assert prepared.returncode == 0, prepared.stderr
    run_id = json.loads(prepared.stdout)["run_id"]
    out = tmp_path / "bank.csv"
    early = nongbao(["payroll", "bank-file", run_id, str(out)], env)
    assert early.returncode != 0 and "not been approved" in early.stderr and not out.exists()
    wrong = nongbao(["payroll", "approve", run_id, "--by", "admin2"], env, stdin="guess\n")
    assert wrong.returncode != 0 and "wrong user name or password" in wrong.stderr
    clerk = nongbao(["payroll", "approve", run_id, "--by", "clerk"], env, stdin=f"{PASSWORD}\n")
    assert clerk.returncode != 0 and "an admin approves" in clerk.stderr
    ok = nongbao(["payroll", "approve", run_id, "--by", "admin2"], env, stdin=f"{PASSWORD}\n")
    assert ok.returncode == 0 and "approved by user:admin2" in ok.stdout, ok.stderr
    done = nongbao(["payroll", "bank-file", run_id, str(out), "--bank", "ccb_csv"], env)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8").splitlines()[-1].startswith("TOTAL,1,")
