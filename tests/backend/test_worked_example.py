"""A worked example computed by hand from DOMAIN.md, asserting every fen.

Wang Jianguo, born 1975-03-10, enrols 2010-08-01 in the default county (scheme start
2010-07-01, 2009 set; 2014 set from 2014-07-01). Interest of year Y is
round_half_up(bucket balance on 1 January of Y x rate of Y), credited 31 December.

Payments (value date = paid_on):
  2010  normal   100 yuan  on 2010-09-01  subsidy 30 (2009 set)
  2011  normal   200 yuan  on 2011-05-01  subsidy 35, collective 10 yuan
  2012  normal   500 yuan  on 2012-06-01  subsidy 50
  2013  missed, back-paid 100 yuan on 2015-03-01: no subsidy
  2014  normal   600 yuan  on 2014-08-01  subsidy 60 (2014 set)
  2015  normal   300 yuan  on 2015-04-01  subsidy 40

Interest by hand (personal / collective / government, fen):
  2010 rate 2.25%: opening 0 / 0 / 0                      -> 0 / 0 / 0
  2011 rate 2.75%: opening 10000 / 0 / 3000               -> 275 / 0 / 82.5=83
  2012 rate 3.50%: opening 30275 / 1000 / 6583            -> 1059.625=1060 / 35 / 230.405=230
  2013 rate 3.00%: opening 81335 / 1035 / 11813           -> 2440.05=2440 / 31.05=31 / 354.39=354
  2014 rate 3.00%: opening 83775 / 1066 / 12167           -> 2513.25=2513 / 31.98=32 / 365.01=365
  2015 rate 2.75%: opening 146288 / 1098 / 18532          -> 4022.92=4023 / 30.195=30 / 509.63=510
Closing 2015: personal 146288+10000+30000+4023 = 190311; collective 1098+30 = 1128;
government 18532+4000+510 = 23042; total 214481 fen.
"""

from __future__ import annotations

from tests.backend.conftest import Api, valid_id

INTEREST_BY_YEAR = {
    2010: 0,
    2011: 275 + 83,
    2012: 1060 + 35 + 230,
    2013: 2440 + 31 + 354,
    2014: 2513 + 32 + 365,
    2015: 4023 + 30 + 510,
}


def test_worked_example_every_fen(api: Api) -> None:
    pid = api.enrol(valid_id("110105", "19750310", "001"), name="王建国", enrolled_on="2010-08-01")
    payments = [
        (2010, 10000, "2010-09-01", "normal", {}, 3000),
        (2011, 20000, "2011-05-01", "normal", {"collective_fen": 1000}, 3500),
        (2012, 50000, "2012-06-01", "normal", {}, 5000),
        (2014, 60000, "2014-08-01", "normal", {}, 6000),
        (2013, 10000, "2015-03-01", "back_payment", {}, 0),
        (2015, 30000, "2015-04-01", "normal", {}, 4000),
    ]
    by_year = {}
    for year, fen, paid_on, kind, extra, subsidy in payments:
        # interest for every year ending before this payment, in order
        for y in range(2010, int(paid_on[:4])):
            if y not in by_year:
                r = api.post("/api/v1/interest-runs", json={"year": y})
                by_year[y] = r.json()["total_fen"]
        r = api.pay(pid, year, fen, paid_on, kind, **extra)
        assert r.status_code == 201, r.text
        assert r.json()["government_fen"] == subsidy
    by_year[2015] = api.post("/api/v1/interest-runs", json={"year": 2015}).json()["total_fen"]
    assert by_year == INTEREST_BY_YEAR

    account = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()
    assert account["buckets"] == {
        "personal_fen": 190311,
        "collective_fen": 1128,
        "other_fen": 0,
        "government_fen": 23042,
    }
    assert account["balance_fen"] == 214481
    interest_entries = {
        (e["on"], e["bucket"]): e["amount_fen"]
        for e in account["entries"]
        if e["kind"] == "interest"
    }
    assert interest_entries[("2012-12-31", "personal")] == 1060
    assert interest_entries[("2011-12-31", "government")] == 83
    assert interest_entries[("2015-12-31", "collective")] == 30
    assert api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True
