"""Every report total reconciles with the ledger, on a county built through the API."""

from __future__ import annotations

from backend.db import engine_for, session_scope
from backend.reports import fund, service
from backend.reports.common import year_bounds
from tests.backend.conftest import Api
from tests.reports.county import build

YEARS = range(2010, 2027)


def get(api: Api, path: str, role: str = "admin") -> dict:
    r = api.get(path, role)
    assert r.status_code == 200, r.text
    return r.json()


def line(report: dict, section: str, key: str) -> int:
    sec = next(s for s in report["sections"] if s["title"].startswith(section))
    return next(r["amount_fen"] for r in sec["rows"] if r["key"] == key)


def test_fund_statement_reconciles_with_the_ledger_every_year(api: Api, db_url: str) -> None:
    c = build(api)
    reports = {y: get(api, f"/api/v1/reports/fund/{y}")["summary"] for y in YEARS}
    for y in YEARS:
        r = reports[y]
        assert r["reconciled"] is True, y
        assert r["opening_fen"] + r["income_fen"] - r["expenditure_fen"] == r["closing_fen"], y
        if y > 2010:
            assert r["opening_fen"] == reports[y - 1]["closing_fen"], y
    assert reports[2010]["opening_fen"] == 0
    # the last year's closing balance is the ledger's: kept totals, and the accounts people see
    with session_scope(engine_for(db_url)) as s:
        assert reports[2026]["closing_fen"] == fund.held_by_ledger_totals(s)
    accounts = sum(
        get(api, f"/api/v1/persons/{pid}/account", "clerk")["balance_fen"]
        for pid in c.people.values()
    )
    fund_2026 = get(api, "/api/v1/reports/fund/2026")
    buckets = sum(
        line(fund_2026, "结余", f"bucket:{b}")
        for b in ("personal", "collective", "other", "government")
    )
    assert buckets == accounts
    assert (
        buckets
        + line(fund_2026, "结余", "fund:pool")
        + line(fund_2026, "结余", "receivable:recoveries")
        == reports[2026]["closing_fen"]
    )
    # income by source, summed over the years, is what was paid in
    total = {
        k: sum(reports[y]["income"].get(k, 0) for y in YEARS)
        for k in (
            "personal",
            "collective",
            "other",
            "interest",
            "subsidy:county",
            "on_behalf:county",
        )
    }
    assert total["personal"] == c.personal_fen
    assert total["collective"] == c.collective_fen == 5000
    assert total["other"] == c.other_fen
    assert total["subsidy:county"] + total["on_behalf:county"] == c.government_fen
    assert total["on_behalf:county"] == c.on_behalf_fen
    assert total["interest"] == c.interest_fen - c.death["interest_reversed_fen"]
    # expenditure: every payroll, and the heirs' refund
    paid = {
        y: sum(
            reports[y]["expenditure"].get(k, 0)
            for k in (
                "basic_pension:central",
                "basic_pension:provincial",
                "basic_pension:county",
                "account_pension",
            )
        )
        for y in YEARS
    }
    assert paid[2015] == sum(r["total_fen"] for r in c.runs if r["period"].startswith("2015")) > 0
    assert paid[2026] == sum(r["total_fen"] for r in c.runs if r["period"].startswith("2026")) > 0
    assert (
        sum(reports[y]["expenditure"].get("inheritance", 0) for y in YEARS)
        == c.death["paid_to_heirs_fen"] - c.death["funeral_grant_fen"]
        > 0
    )
    # the overpaid month after the death is charged back to the central government
    assert c.death["overpaid_fen"] > 0
    assert (
        reports[2015]["income"]["basic_pension:central"]
        < reports[2015]["expenditure"]["basic_pension:central"]
    )


def test_monthly_statement_matches_run_and_ledger(api: Api) -> None:
    c = build(api)
    for run in c.runs:
        r = get(api, f"/api/v1/reports/monthly-statement/{run['run_id']}")
        s = r["summary"]
        assert s["reconciled"] is True
        assert s["total_fen"] == s["ledger_paid_fen"] == run["total_fen"]
        assert s["people"] == run["paid"]
        villages = [sec for sec in r["sections"][1:]]
        assert sum(sec["totals"]["total_fen"] for sec in villages) == run["total_fen"]
        for sec in villages:
            for row in sec["rows"]:
                assert (
                    row["basic_fen"] + row["account_fen"] + row["arrears_fen"] == row["total_fen"]
                )
                assert "********" in row["id_number"]
    one = get(api, f"/api/v1/reports/monthly-statement/{c.runs[0]['run_id']}?village=V002")
    assert one["summary"]["people"] == 0 and one["summary"]["reconciled"] is None


def test_coverage_publicity_certification_reconcile(api: Api, db_url: str) -> None:
    c = build(api)
    fund_2015 = get(api, "/api/v1/reports/fund/2015")["summary"]["expenditure"]
    cov = get(api, "/api/v1/reports/coverage/2015")["summary"]
    assert cov["county"]["pension_paid_fen"] == sum(
        v for k, v in fund_2015.items() if k.startswith("basic_pension") or k == "account_pension"
    )
    assert (cov["county"]["enrolled"], cov["county"]["paying"], cov["county"]["receiving"]) == (
        2,
        2,
        1,
    )  # the near pensioner died in 2015
    assert cov["county"]["continuation_rate"] == round(
        2 / 3, 6
    )  # three paid for 2014, two for 2015
    trend = {r["year"]: r for r in cov["trend"]}
    assert (
        trend[2011]["continuation_rate"] == 1.0 and trend[2015]["take_up_rate"] is None
    )  # nobody 60+ alive at the end of 2015
    pub = get(api, "/api/v1/reports/publicity/2011?village=V001")
    contributors = pub["sections"][0]["rows"]
    assert sorted(r["name"] for r in contributors) == ["欧***", "王**"]
    assert all(r["id_number"].startswith("510105********") for r in contributors)
    assert pub["summary"]["personal_fen"] == 20000 + 20000
    assert pub["sections"][0]["totals"]["collective_fen"] == 5000
    with session_scope(engine_for(db_url)) as s:
        ledger_personal_2011 = fund.flows(s, *year_bounds(2011))[0]["personal"]
    county_pub = get(api, "/api/v1/reports/publicity/2011")["summary"]
    assert (
        county_pub["personal_fen"] == ledger_personal_2011
    )  # all 2011 contributions were paid in 2011
    pub26 = get(api, "/api/v1/reports/publicity/2026")["summary"]
    assert pub26["pension_fen"] == sum(
        r["total_fen"] for r in c.runs if r["period"].startswith("2026")
    )
    cert = get(api, "/api/v1/reports/certification?on=2026-11-27")["summary"]["totals"]
    assert (cert["pensioners"], cert["certified"], cert["overdue"]) == (1, 1, 0)
    late = get(api, "/api/v1/reports/certification?on=2027-06-10")["summary"]["totals"]
    assert (late["certified"], late["due"]) == (0, 1)
    assert (
        get(api, "/api/v1/reports/certification?on=2027-07-01")["summary"]["totals"]["overdue"] == 1
    )


def test_roles_and_village_scope(api: Api) -> None:
    build(api)
    assert api.get("/api/v1/reports/fund/2015", "field_worker").status_code == 403
    assert api.get("/api/v1/reports/fund/2015", role="").status_code == 401
    scoped = get(api, "/api/v1/reports/publicity/2011", "field_worker")
    assert [s["title"][:2] for s in scoped["sections"]] == ["东村", "东村"]  # V001 only
    assert api.get("/api/v1/reports/publicity/2011?village=V002", "field_worker").status_code == 403
    assert api.get("/api/v1/reports/fund/2031").status_code == 422
    assert api.get("/api/v1/reports/monthly-statement/run_nope").status_code == 404
    assert service.KINDS == ("monthly-statement", "fund", "coverage", "publicity", "certification")
