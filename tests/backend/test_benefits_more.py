"""The rest of the benefits lifecycle: the death registry, another pension, staff suspensions,
the bank file, and the ugly cases."""

from __future__ import annotations

import csv
import io

from tests.backend.conftest import Api, valid_id
from tests.backend.test_benefits_worked import run

OLD = valid_id("110105", "19450801", "021")  # already 60 at the scheme start


def _pensioner(api: Api, number: str = OLD, name: str = "赵大爷", bank: str | None = None) -> str:
    pid = api.enrol(number, name=name, enrolled_on="2010-07-05")
    body = {"awarded_on": "2010-07-20", **({"bank_account": bank} if bank else {})}
    assert api.post(f"/api/v1/persons/{pid}/award", "clerk", json=body).status_code == 201
    return pid


def _registry(api: Api, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return api.post(
        "/api/v1/imports/death-registry", files={"file": ("deaths.csv", data, "text/csv")}
    )


def test_death_registry_opens_pending_refers_and_counts(api: Api) -> None:
    settled = _pensioner(api)
    other = valid_id("110105", "19440101", "023")
    referred = _pensioner(api, other, "钱奶奶")
    stranger = valid_id("110105", "19400101", "025")
    text = f"id_number,name,date_of_death\n{OLD},赵大爷,2010-12-03\n{other},钱奶奶奶,2010-11-01\n{stranger},孙某,2010-10-10\n"
    r = _registry(api, text)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "rows": 3,
        "settled": 0,  # never on its own: a pending termination and a case for a second person
        "pending": 1,
        "referred": 1,
        "unmatched": 1,
        "already_recorded": 0,
    }
    assert api.get(f"/api/v1/persons/{settled}", "clerk").json()["status"] == "receiving"
    assert (
        api.get(f"/api/v1/persons/{referred}", "clerk").json()["status"] == "receiving"
    )  # referred, not settled
    again = _registry(api, text)
    assert again.json()["already_recorded"] == 1 and again.json()["pending"] == 0


def test_death_registry_bad_files_change_nothing(api: Api) -> None:
    pid = _pensioner(api)
    for data, words in (
        ("id,name,died\n", "columns must be exactly"),
        (b"\xff\xfe\x00\x81\x30garbage", "neither UTF-8 nor GB18030"),
        (
            f"id_number,name,date_of_death\n{OLD},赵大爷,2010-12-03\n{OLD[:-1]}{'1' if OLD[-1] != '1' else '2'},赵大爷,2010-12-03\n",
            "check character",
        ),
        (f"id_number,name,date_of_death\n{OLD},赵大爷,2030-01-01\n", "future"),
        (f"id_number,name,date_of_death\n{OLD},赵大爷,1940-01-01\n", "before birth"),
    ):
        r = _registry(api, data)
        assert r.status_code == 422 and words in r.text, (data, r.text)
    big = "id_number,name,date_of_death\n" + f"{OLD},赵大爷,2010-12-03\n" * 100_000
    r = _registry(api, big)
    assert r.status_code in (413, 422) and ("split the file" in r.text or "larger than" in r.text)
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "receiving"


def test_death_before_the_award_recovers_everything_paid(api: Api) -> None:
    """Awarded 2010-07-20 with first month 2010-08; the registry later says died 2010-07-10:
    every paid month (August, September: 2 x 5500) is an overpayment; no account to offset."""
    pid = _pensioner(api)
    run(api, "2010-08")
    run(api, "2010-09")
    s = api.end(pid, {"date_of_death": "2010-07-10"}).json()
    assert (
        s["overpaid_fen"],
        s["offset_fen"],
        s["recovery_due_fen"],
        s["owed_months_paid_to_heirs_fen"],
    ) == (11000, 0, 11000, 0)


def test_owed_months_up_to_death_go_to_the_heirs(api: Api, db_url: str) -> None:
    """Lapsed from 2011-08 (award certification valid through 2011-07-31), died 2011-09-15:
    August and September were owed (a lapse is paid back) and go to the heirs: 2 x 5500."""
    pid = _pensioner(api)
    run(api, "2011-07")
    assert run(api, "2011-08")["suspended"] == 1
    s = api.end(pid, {"date_of_death": "2011-09-15", "source": "family_report"}).json()
    assert (s["overpaid_fen"], s["owed_months_paid_to_heirs_fen"]) == (0, 11000)
    assert api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True


def test_other_pension_found_recovers_from_its_start(api: Api) -> None:
    pid = _pensioner(api)
    for m in ("2010-08", "2010-09", "2010-10"):
        run(api, m)
    s = api.end(
        pid,
        {"started_on": "2010-09-01", "note": "urban employee pension since September"},
        kind="other-pension",
    ).json()
    assert (s["overpaid_fen"], s["recovery_due_fen"]) == (11000, 11000)
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "terminated"


def test_staff_suspension_for_investigation_pays_arrears_when_lifted(api: Api, db_url: str) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    r = api.post(
        f"/api/v1/persons/{pid}/suspensions",
        "clerk",
        json={
            "reason": "investigation",
            "from_month": "2010-09",
            "note": "neighbour says he moved to the city",
        },
    )
    assert r.status_code == 201, r.text
    sus = r.json()
    assert (sus["created_by"], sus["arrears"]) == ("user:clerk", True)
    assert run(api, "2010-09")["paid"] == 0
    assert (
        api.post(
            f"/api/v1/persons/{pid}/suspensions",
            "clerk",
            json={"reason": "family_binding", "from_month": "2010-09", "note": "x"},
        ).status_code
        == 422
    )
    proposed = api.post(
        f"/api/v1/suspensions/{sus['id']}/lift", "clerk", json={"note": "found at home"}
    )
    assert proposed.status_code == 202, proposed.text  # four eyes: a second clerk confirms
    assert api.confirm(proposed.json()["request_id"]).status_code == 200
    oct_run = run(api, "2010-10")
    assert oct_run["total_fen"] == 2 * 5500  # September as arrears


def test_bank_file_one_line_per_account_with_control_total(api: Api) -> None:
    a = _pensioner(api, OLD, "赵大爷", bank="6217 0000 1111")
    b = _pensioner(
        api, valid_id("110105", "19440101", "023"), "钱奶奶", bank="6217 0000 1111"
    )  # a couple, one account
    c = _pensioner(api, valid_id("110105", "19430101", "027"), "孙爷爷")
    paid = run(api, "2010-08")
    assert paid["paid"] == 3
    api.approve_run(paid["run_id"])  # four eyes: a second admin releases the run
    r = api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file?bank=ccb_csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["seq", "account", "id_number", "name", "amount_fen", "persons", "period"]
    body, total = rows[1:-1], rows[-1]
    assert len(body) == 2
    couple = next(row for row in body if row[1] == "6217 0000 1111")
    assert (couple[4], couple[5]) == ("11000", "2")
    alone = next(row for row in body if row[1] == "")
    assert alone[2] == valid_id(
        "110105", "19430101", "027"
    )  # paid to the social security card's account
    assert total == ["TOTAL", "2", "", "", "16500", "3", "2010-08"]
    assert (
        api.get(f"/api/v1/payroll-runs/{paid['run_id']}/bank-file?bank=ccb_csv").text == r.text
    )  # stable order
    assert (
        api.get(
            f"/api/v1/payroll-runs/{paid['run_id']}/bank-file?bank=ccb_csv", "clerk"
        ).status_code
        == 403
    )
    _ = (a, b, c)


def test_payments_history_newest_first(api: Api) -> None:
    pid = _pensioner(api)
    run(api, "2010-08")
    run(api, "2010-09")
    r = api.get(f"/api/v1/persons/{pid}/payments", "reviewer")
    assert r.status_code == 200, r.text
    assert [(p["period"], p["total_fen"], p["paid_on"]) for p in r.json()["payments"]] == [
        ("2010-09", 5500, "2010-09-20"),
        ("2010-08", 5500, "2010-08-20"),
    ]
