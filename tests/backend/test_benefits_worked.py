"""Worked examples of the benefits lifecycle, computed by hand from DOMAIN.md, every fen.

No interest is run in these examples, so account balances are the sums of what was paid in.
The default county: scheme start 2010-07-01, western province (central pays the whole
minimum), central minimum 55 yuan from the start, 70 from 2014-07, 88 from 2018-01, 143 from
2025-01; long-contribution bonus 1 yuan/month per year beyond 15; divisor 139.
"""

from __future__ import annotations

from datetime import date

from backend.db import engine_for, session_scope
from backend.policy import load_policy
from backend.services import certification_status
from backend.services.context import Ctx
from tests.backend.conftest import Api, valid_id


def certify(api: Api, db_url: str, person_id: str, on: str) -> None:
    """A passed certification on a day (the certification routes are tested elsewhere)."""
    st = api.client.app.state.nongbao  # type: ignore[attr-defined]  # the TestClient's app is ours
    with session_scope(engine_for(db_url)) as s:
        certification_status.record_passed(
            Ctx(s, load_policy(), st.keyring), person_id, "counter", date.fromisoformat(on)
        )


def run(api: Api, period: str, day: int = 20) -> dict:
    r = api.post("/api/v1/payroll-runs", json={"period": period, "run_on": f"{period}-{day:02d}"})
    assert r.status_code == 201, r.text
    return r.json()


def line_of(api: Api, run_id: str, person_id: str) -> dict:
    lines = [
        ln
        for ln in api.get(f"/api/v1/payroll-runs/{run_id}/lines").json()["lines"]
        if ln["person_id"] == person_id
    ]
    assert len(lines) <= 1
    return lines[0] if lines else {}


def test_award_young_group_with_long_contribution_bonus(api: Api) -> None:
    """Born 1966-05-10: 44 at the scheme start. Paid 100 yuan every year 2010-2025 (16 years,
    subsidy 30 each): balance 16 x 130 = 2080 yuan = 208000 fen. Account pension
    round(208000/139) = round(1496.40) = 1496 fen; government part round(1496 x 48000/208000)
    = round(345.23) = 345. First month 2026-06 (after the May birthday). Basic 2026-06 =
    14300 + bonus 1 year x 100 = 14400. June payroll: 14400 + 1496 = 15896, drawn 345 from
    the government bucket and 1151 from the personal one."""
    pid = api.enrol(valid_id("110105", "19660510", "001"), enrolled_on="2010-08-01")
    for year in range(2010, 2026):
        assert api.pay(pid, year, 10000, f"{year}-08-01").status_code == 201
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2026-06-15"})
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["eligibility_group"], award["first_month"], award["contribution_years"]) == (
        "young",
        "2026-06",
        16,
    )
    assert (award["account_pension_fen"], award["basic_pension_fen"]) == (1496, 14400)
    paid = run(api, "2026-06")
    assert (paid["paid"], paid["total_fen"]) == (1, 15896)
    assert line_of(api, paid["run_id"], pid)["from_buckets_fen"] == 1496
    buckets = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["buckets"]
    assert buckets == {
        "personal_fen": 160000 - 1151,
        "collective_fen": 0,
        "other_fen": 0,
        "government_fen": 48000 - 345,
    }
    again = run(api, "2026-06")
    assert (again["paid"], again["total_fen"]) == (0, 0)  # once per month, however often it is run


def test_award_near_group_needs_every_year_and_back_payment(api: Api) -> None:
    """Born 1955-03-01: 55 at the scheme start, must have paid 2010-2014. Paid 2010 (100 yuan
    +30), 2011 (200 +35), 2014 (100 +30); 2012 and 2013 missing until back-paid on 2015-03-15
    (100 yuan each, no subsidy). Balance 13000+23500+13000+10000+10000 = 69500, government
    9500. Account pension round(69500/139) = 500; government part round(500x9500/69500) =
    round(68.35) = 68. First month 2015-04; basic 7000 (70 yuan from 2014-07)."""
    pid = api.enrol(valid_id("110105", "19550301", "002"), enrolled_on="2010-07-10")
    for year, fen, on in (
        (2010, 10000, "2010-09-01"),
        (2011, 20000, "2011-05-01"),
        (2014, 10000, "2014-03-01"),
    ):
        assert api.pay(pid, year, fen, on).status_code == 201
    refused = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2015-04-01"})
    assert refused.status_code == 422
    assert (
        refused.json()["detail"]
        == "2 contribution years missing: 2012, 2013; they may be back-paid before the award"
    )
    for year in (2012, 2013):
        assert (
            api.pay(pid, year, 10000, "2015-03-15", kind="back_payment").json()["government_fen"]
            == 0
        )
    award = api.post(
        f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2015-04-01"}
    ).json()
    assert (award["eligibility_group"], award["contribution_years"], award["first_month"]) == (
        "near",
        5,
        "2015-04",
    )
    assert (award["account_pension_fen"], award["basic_pension_fen"]) == (500, 7000)
    assert (
        api.post(
            f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2015-04-02"}
        ).status_code
        == 409
    )


def test_award_already_60_waits_for_the_children(api: Api) -> None:
    """Born 1945-08-01, 64 at the start, enrolled 2010-07-05: no contribution needed, family
    binding: the enrolled son must pay for 2010 first. First month 2010-08, basic 5500, account 0."""
    parent = api.enrol(
        valid_id("110105", "19450801", "003"), name="王老汉", enrolled_on="2010-07-05"
    )
    son = api.enrol(
        valid_id("110105", "19750101", "005"),
        name="王大",
        enrolled_on="2010-07-06",
        parent_person_ids=[parent],
    )
    r = api.post(f"/api/v1/persons/{parent}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert (
        r.status_code == 422
        and "have not paid for 2010" in r.json()["detail"]
        and son in r.json()["detail"]
    )
    assert api.pay(son, 2010, 10000, "2010-07-15").status_code == 201
    award = api.post(
        f"/api/v1/persons/{parent}/award", "clerk", json={"awarded_on": "2010-07-20"}
    ).json()
    assert (award["eligibility_group"], award["family_binding"], award["first_month"]) == (
        "already_60",
        True,
        "2010-08",
    )
    assert (
        award["account_pension_fen"],
        award["basic_pension_fen"],
        award["contribution_years"],
    ) == (0, 5500, 0)


def test_award_refusals(api: Api) -> None:
    young = api.enrol(valid_id("110105", "19700101", "007"))
    r = api.post(f"/api/v1/persons/{young}/award", "clerk", json={"awarded_on": "2026-01-01"})
    assert (
        r.status_code == 422
        and "is 56 on 2026-01-01" in r.json()["detail"]
        and "2030-01-01" in r.json()["detail"]
    )
    old = api.enrol(valid_id("110105", "19660101", "009"))
    r = api.post(f"/api/v1/persons/{old}/award", "clerk", json={"awarded_on": "2026-03-01"})
    assert r.status_code == 422 and "15 more needed" in r.json()["detail"]
    assert (
        api.post(
            f"/api/v1/persons/{old}/award", "clerk", json={"awarded_on": "2027-03-01"}
        ).status_code
        == 422
    )
    assert (
        api.post(
            f"/api/v1/persons/{old}/award", "reviewer", json={"awarded_on": "2026-03-01"}
        ).status_code
        == 403
    )


def test_a_year_of_payroll_across_a_minimum_increase_then_lapse_and_arrears(
    api: Api, db_url: str
) -> None:
    """Born 1950-01-15, already 60; enrolled 2017-05-10, awarded 2017-06-05 (the award counts
    as a certification, valid through 2018-06-30). Runs 2017-06..2018-06: 7 x 7000 + 6 x 8800
    = 101800. July 2018: lapsed, suspended, nothing paid; August too. Certified 2018-09-03:
    the September run pays September 8800 and the arrears of July and August 2 x 8800 = 17600."""
    pid = api.enrol(valid_id("110105", "19500115", "011"), enrolled_on="2017-05-10")
    assert (
        api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2017-06-05"}).json()[
            "first_month"
        ]
        == "2017-06"
    )
    total = 0
    for period in [f"2017-{m:02d}" for m in range(6, 13)] + [f"2018-{m:02d}" for m in range(1, 7)]:
        r = run(api, period)
        assert r["paid"] == 1, period
        total += r["total_fen"]
    assert total == 7 * 7000 + 6 * 8800 == 101800
    july = run(api, "2018-07")
    assert (july["paid"], july["suspended"]) == (0, 1)
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "suspended"
    assert run(api, "2018-08")["paid"] == 0
    certify(api, db_url, pid, "2018-09-03")
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "receiving"
    sept = run(api, "2018-09")
    line = line_of(api, sept["run_id"], pid)
    assert (line["basic_fen"], line["arrears_fen"], line["total_fen"], line["months"]) == (
        8800,
        17600,
        26400,
        3,
    )
    suspensions = api.get(f"/api/v1/persons/{pid}/suspensions", "clerk").json()
    assert [(s["reason"], s["from_month"], s["to_month"], s["arrears"]) for s in suspensions] == [
        ("certification_lapsed", "2018-07", "2018-08", True)
    ]
    assert api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True


def test_family_binding_suspension_pays_no_arrears(api: Api, db_url: str) -> None:
    """The parent (already 60) is paid 2010-08..2011-06 in the June 2011 run (11 x 5500 =
    60500). The son does not pay for 2011 by 30 June: July's run suspends (family_binding);
    August too. The son pays on 2011-08-25; September pays September only: 5500, no arrears."""
    parent = api.enrol(
        valid_id("110105", "19450801", "003"), name="王老汉", enrolled_on="2010-07-05"
    )
    son = api.enrol(
        valid_id("110105", "19750101", "005"),
        name="王大",
        enrolled_on="2010-07-06",
        parent_person_ids=[parent],
    )
    api.pay(son, 2010, 10000, "2010-07-15")
    api.post(f"/api/v1/persons/{parent}/award", "clerk", json={"awarded_on": "2010-07-20"})
    june = run(api, "2011-06")
    assert (june["paid"], june["total_fen"]) == (1, 60500)
    certify(api, db_url, parent, "2011-07-25")
    july = run(api, "2011-07")
    assert (july["paid"], july["suspended"]) == (0, 1)
    assert run(api, "2011-08")["paid"] == 0
    assert api.pay(son, 2011, 10000, "2011-08-25").status_code == 201
    sept = run(api, "2011-09")
    line = line_of(api, sept["run_id"], parent)
    assert (line["total_fen"], line["arrears_fen"], line["months"]) == (5500, 0, 1)
    [susp] = api.get(f"/api/v1/persons/{parent}/suspensions", "clerk").json()
    assert (susp["reason"], susp["from_month"], susp["to_month"], susp["arrears"]) == (
        "family_binding",
        "2011-07",
        "2011-08",
        False,
    )


def test_death_reported_three_months_late_offset_and_recovery(api: Api) -> None:
    """Born 1948-02-02, already 60; enrolled 2012-03-01 with an old-scheme balance of 13900
    (all personal). Award 2012-03-15: account pension 13900/139 = 100, government part 0;
    first month 2012-04; each month 5500 + 100 = 5600. Runs 2012-04..09 draw 600 from the
    personal bucket (13300 left). Died 2012-06-15, reported after the September run: July,
    August, September overpaid = 3 x 5600 = 16800; their drawdowns (300) go back: personal
    13600 = inheritable. Offset min(16800, 13600) = 13600; heirs 0; recovery due 3200."""
    number = valid_id("110105", "19480202", "013")
    pid = api.enrol(number, name="张奶奶", enrolled_on="2012-03-01")
    csv_text = f"id_number,name,balance_fen,as_of\n{number},张奶奶,13900,2012-03-01\n"
    assert (
        api.post(
            "/api/v1/imports/old-scheme", files={"file": ("old.csv", csv_text.encode(), "text/csv")}
        ).status_code
        == 200
    )
    award = api.post(
        f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2012-03-15"}
    ).json()
    assert (award["account_pension_fen"], award["first_month"]) == (100, "2012-04")
    for m in range(4, 10):
        assert run(api, f"2012-{m:02d}")["total_fen"] == 5600
    r = api.end(pid, {"date_of_death": "2012-06-15", "source": "manual_report"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["overpaid_fen"], s["inheritable_fen"], s["offset_fen"], s["paid_to_heirs_fen"]) == (
        16800,
        13600,
        13600,
        0,
    )
    assert (s["returned_to_fund_fen"], s["recovery_due_fen"], s["funeral_grant_fen"]) == (
        0,
        3200,
        0,
    )
    assert api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["balance_fen"] == 0
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "terminated"
    assert run(api, "2012-10")["paid"] == 0
    order = s["recovery_order_id"]
    assert (
        api.post(
            f"/api/v1/recovery-orders/{order}/repayments",
            "clerk",
            json={"amount_fen": 5000, "paid_on": "2012-11-01"},
        ).status_code
        == 422
    )
    first = api.post(
        f"/api/v1/recovery-orders/{order}/repayments",
        "clerk",
        json={"amount_fen": 1000, "paid_on": "2012-11-01"},
        headers={"Idempotency-Key": "r1"},
    )
    replay = api.post(
        f"/api/v1/recovery-orders/{order}/repayments",
        "clerk",
        json={"amount_fen": 1000, "paid_on": "2012-11-01"},
        headers={"Idempotency-Key": "r1"},
    )
    assert first.json() == replay.json() and first.json()["repaid_fen"] == 1000
    last = api.post(
        f"/api/v1/recovery-orders/{order}/repayments",
        "clerk",
        json={"amount_fen": 2200, "paid_on": "2012-12-01"},
    ).json()
    assert (last["repaid_fen"], last["status"]) == (3200, "settled")
    assert (
        api.post(
            f"/api/v1/persons/{pid}/death", "clerk", json={"date_of_death": "2012-06-15"}
        ).status_code
        == 409
    )
    assert api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True


def test_inheritance_2009_versus_2014(api: Api) -> None:
    """Two contributors with the same account: 2010 and 2011 at 100 yuan (+30 subsidy each):
    personal 20000, government 6000. Died 2013-05-01 (2009 rule): heirs 20000, 6000 back to
    the fund. Died 2014-03-01 (on or after 2014-02-21): heirs 26000, nothing back."""
    early = api.enrol(valid_id("110105", "19700101", "015"), name="甲")
    late = api.enrol(valid_id("110105", "19700101", "017"), name="乙")
    for pid in (early, late):
        api.pay(pid, 2010, 10000, "2010-09-01")
        api.pay(pid, 2011, 10000, "2011-09-01")
    a = api.end(early, {"date_of_death": "2013-05-01"}).json()
    b = api.end(late, {"date_of_death": "2014-03-01"}).json()
    assert (a["inheritable_fen"], a["paid_to_heirs_fen"], a["returned_to_fund_fen"]) == (
        20000,
        20000,
        6000,
    )
    assert (b["inheritable_fen"], b["paid_to_heirs_fen"], b["returned_to_fund_fen"]) == (
        26000,
        26000,
        0,
    )
    assert a["overpaid_fen"] == b["overpaid_fen"] == 0


def test_bad_payroll_and_death_input(api: Api) -> None:
    for period, words in (
        ("2027-02", "too far ahead"),
        ("2026-13", "YYYY-MM"),
        ("26-01", "YYYY-MM"),
        ("2009-12", "before the scheme"),
    ):
        r = api.post("/api/v1/payroll-runs", json={"period": period})
        assert r.status_code == 422 and words in r.text, (period, r.text)
    assert (
        api.post(
            "/api/v1/payroll-runs", json={"period": "2026-03", "run_on": "2026-04-01"}
        ).status_code
        == 422
    )
    pid = api.enrol(valid_id("110105", "19700101", "019"))
    assert (
        "future"
        in api.post(
            f"/api/v1/persons/{pid}/death", "clerk", json={"date_of_death": "2027-01-01"}
        ).text
    )
    assert (
        "before the date of birth"
        in api.post(
            f"/api/v1/persons/{pid}/death", "clerk", json={"date_of_death": "1969-01-01"}
        ).text
    )
    assert (
        api.post(
            "/api/v1/persons/pnobody/death", "clerk", json={"date_of_death": "2020-01-01"}
        ).status_code
        == 404
    )
