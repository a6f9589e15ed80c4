"""A small county built through the API, with every kind of money movement the reports show:
contributions of each kind across policy sets, interest every year, awards, payrolls in two
years, a death with an overpaid month to recover."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.backend.conftest import Api, valid_id


@dataclass
class County:
    people: dict[str, str] = field(default_factory=dict)
    personal_fen: int = 0
    collective_fen: int = 0
    other_fen: int = 0
    government_fen: int = 0  # subsidies and paid-on-behalf, as the contribution answers said
    on_behalf_fen: int = 0
    interest_fen: int = 0
    runs: list[dict] = field(default_factory=list)
    death: dict = field(default_factory=dict)


def _pay(
    api: Api,
    c: County,
    pid: str,
    year: int,
    fen: int,
    on: str,
    kind: str = "normal",
    collective: int = 0,
    other: int = 0,
) -> None:
    r = api.pay(pid, year, fen, on, kind=kind, collective_fen=collective, other_fen=other)
    assert r.status_code == 201, r.text
    c.personal_fen += fen
    c.collective_fen += collective
    c.other_fen += other
    c.government_fen += r.json()["government_fen"]


def _interest(api: Api, c: County, years: range) -> None:
    for y in years:
        r = api.post("/api/v1/interest-runs", json={"year": y})
        assert r.status_code in (200, 201), r.text
        c.interest_fen += r.json()["total_fen"]


def _payroll(api: Api, c: County, period: str) -> None:
    r = api.post("/api/v1/payroll-runs", json={"period": period, "run_on": f"{period}-20"})
    assert r.status_code == 201, r.text
    c.runs.append(r.json())


def build(api: Api) -> County:
    c = County()
    near = c.people["near"] = api.enrol(
        valid_id("510105", "19550301", "002"),
        name="王秀英",
        village="V001",
        enrolled_on="2010-07-10",
    )
    young = c.people["young"] = api.enrol(
        valid_id("510105", "19660510", "001"),
        name="李建国",
        village="V002",
        enrolled_on="2010-08-01",
    )
    disabled = c.people["disabled"] = api.enrol(
        valid_id("510105", "19800101", "013"),
        name="欧阳娜娜",
        village="V001",
        enrolled_on="2010-08-01",
        severely_disabled=True,
    )
    for y, fen, col in (
        (2010, 10000, 0),
        (2011, 20000, 5000),
        (2012, 10000, 0),
        (2013, 10000, 0),
        (2014, 10000, 0),
    ):
        _pay(api, c, near, y, fen, f"{y}-09-01", collective=col)
    for y in range(2010, 2026):
        _pay(
            api,
            c,
            young,
            y,
            10000 if y < 2015 else 50000,
            f"{y}-08-01",
            other=2000 if y % 3 == 0 else 0,
        )
    for y in range(2010, 2027):
        if y == 2012:
            _pay(api, c, disabled, y, 0, f"{y}-08-01", kind="on_behalf")
            c.on_behalf_fen += 10000
        else:
            _pay(api, c, disabled, y, 20000, f"{y}-08-01")
    _interest(api, c, range(2010, 2015))
    assert (
        api.post(
            f"/api/v1/persons/{near}/award", "clerk", json={"awarded_on": "2015-04-01"}
        ).status_code
        == 201
    )
    for period in ("2015-04", "2015-05", "2015-06"):
        _payroll(api, c, period)
    r = api.end(near, {"date_of_death": "2015-05-10", "source": "manual_report"})
    assert r.status_code == 200, r.text
    c.death = r.json()
    _interest(api, c, range(2015, 2026))
    assert (
        api.post(
            f"/api/v1/persons/{young}/award", "clerk", json={"awarded_on": "2026-06-15"}
        ).status_code
        == 201
    )
    for period in ("2026-06", "2026-07"):
        _payroll(api, c, period)
    return c
