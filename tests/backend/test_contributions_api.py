"""Contributions: tiers, subsidies, back payments, paid on behalf, idempotency, bad input."""

from __future__ import annotations

import sqlalchemy as sa

from tests.backend.conftest import Api, valid_id

PERSON = valid_id("110105", "19750310", "001")


def _ledger_rows(db_url: str) -> tuple[int, int]:
    from backend.db import engine_for

    with engine_for(db_url).connect() as conn:
        return (
            conn.execute(sa.text("SELECT count(*) FROM ledger_transfer")).scalar_one(),
            conn.execute(sa.text("SELECT count(*) FROM contribution")).scalar_one(),
        )


def test_normal_contribution_adds_the_2009_subsidy(api: Api) -> None:
    pid = api.enrol(PERSON)
    r = api.pay(pid, 2011, 20000, "2011-05-01", collective_fen=1000, other_fen=500)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["government_fen"] == 3500
    assert body["balance_fen"] == 20000 + 1000 + 500 + 3500
    account = api.get(f"/api/v1/persons/{pid}/account", "reviewer").json()
    assert account["buckets"] == {
        "personal_fen": 20000,
        "collective_fen": 1000,
        "other_fen": 500,
        "government_fen": 3500,
    }
    assert sorted((e["bucket"], e["amount_fen"]) for e in account["entries"]) == [
        ("collective", 1000),
        ("government", 3500),
        ("other", 500),
        ("personal", 20000),
    ]


def test_2014_set_applies_from_its_effective_date(api: Api) -> None:
    pid = api.enrol(PERSON)
    before = api.pay(pid, 2014, 60000, "2014-06-30")
    assert (
        before.status_code == 422
        and "not a tier of the 2009 policy" in before.json()["errors"][0]["message"]
    )
    after = api.pay(pid, 2014, 60000, "2014-07-01")
    assert after.status_code == 201 and after.json()["government_fen"] == 6000


def test_back_payment_gets_no_subsidy(api: Api) -> None:
    pid = api.enrol(PERSON)
    r = api.pay(pid, 2012, 10000, "2015-03-01", kind="back_payment")
    assert r.status_code == 201, r.text
    assert r.json()["government_fen"] == 0
    assert r.json()["balance_fen"] == 10000


def test_paid_on_behalf_goes_to_the_government_bucket(api: Api) -> None:
    pid = api.enrol(PERSON, severely_disabled=True)
    r = api.pay(pid, 2016, 0, "2016-04-01", kind="on_behalf")
    assert r.status_code == 201, r.text
    assert r.json()["government_fen"] == 10000 + 3000
    buckets = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["buckets"]
    assert buckets == {
        "personal_fen": 0,
        "collective_fen": 0,
        "other_fen": 0,
        "government_fen": 13000,
    }
    other = api.enrol(valid_id("110105", "19700101", "003"), name="钱七")
    assert api.pay(other, 2016, 0, "2016-04-01", kind="on_behalf").status_code == 422


def test_idempotency_key_replays_the_first_answer(api: Api, db_url: str) -> None:
    pid = api.enrol(PERSON)
    body = {"person_id": pid, "year": 2011, "personal_fen": 10000, "paid_on": "2011-05-01"}
    key = {"Idempotency-Key": "counter-7-2011-000123"}
    first = api.post("/api/v1/contributions", "clerk", json=body, headers=key)
    again = api.post("/api/v1/contributions", "clerk", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert _ledger_rows(db_url) == (2, 1)
    other = api.post(
        "/api/v1/contributions", "clerk", json={**body, "personal_fen": 20000}, headers=key
    )
    assert other.status_code == 409
    assert _ledger_rows(db_url) == (2, 1)


def test_bad_contributions_are_refused_and_change_nothing(api: Api, db_url: str) -> None:
    pid = api.enrol(PERSON)
    assert api.pay(pid, 2011, 10000, "2011-05-01").status_code == 201
    before = _ledger_rows(db_url)
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"personal_fen": 15000}, 422, "not a tier"),
        ({"personal_fen": -10000}, 422, "personal_fen"),
        ({"personal_fen": 100.0}, 422, "whole number of fen"),
        ({"personal_fen": "10000"}, 422, "whole number of fen"),
        ({"collective_fen": -1}, 422, "collective_fen"),
        ({"year": 2009, "paid_on": "2010-08-01", "kind": "back_payment"}, 422, "before the scheme"),
        ({"year": 2011, "paid_on": "2011-06-01"}, 409, "already recorded"),
        ({"year": 2027, "paid_on": "2027-01-02"}, 422, "future"),
        ({"year": 2013, "paid_on": "2012-05-01"}, 422, "later year"),
        ({"year": 2012, "paid_on": "2013-05-01"}, 422, "back_payment"),
        ({"person_id": "pnobody"}, 404, "no person"),
        ({"kind": "gift"}, 422, "kind"),
        ({"surprise": 1}, 422, "unknown field"),
    ]
    for change, status, words in cases:
        body = {
            "person_id": pid,
            "year": 2012,
            "personal_fen": 10000,
            "paid_on": "2012-05-01",
            **change,
        }
        r = api.post("/api/v1/contributions", "clerk", json=body)
        assert r.status_code == status, (change, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert words in r.text, (change, r.text)
    assert _ledger_rows(db_url) == before


def test_no_contributions_from_the_60th_birthday_year(api: Api) -> None:
    pid = api.enrol(valid_id("110105", "19550310", "001"), enrolled_on="2010-08-01")
    assert api.pay(pid, 2014, 10000, "2014-05-01").status_code == 201
    r = api.pay(pid, 2015, 10000, "2015-05-01")
    assert r.status_code == 422 and "60th birthday" in r.json()["detail"]


def test_reversal_corrects_and_frees_the_year(api: Api) -> None:
    pid = api.enrol(PERSON)
    wrong = api.pay(pid, 2011, 50000, "2011-05-01").json()
    proposed = api.post(
        f"/api/v1/contributions/{wrong['contribution_id']}/reversal",
        "clerk",
        json={"reason": "keyed 500 instead of 100"},
    )
    assert proposed.status_code == 202, proposed.text  # four eyes: nothing moves yet
    r = api.confirm(proposed.json()["request_id"])
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert result["reversed"] is True and result["balance_fen"] == 0
    assert (
        api.post(
            f"/api/v1/contributions/{wrong['contribution_id']}/reversal",
            "clerk",
            json={"reason": "twice"},
        ).status_code
        == 409
    )
    right = api.pay(pid, 2011, 10000, "2011-05-01")
    assert right.status_code == 201 and right.json()["balance_fen"] == 13000
    entries = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["entries"]
    assert sum(e["amount_fen"] for e in entries) == 13000
    assert any(e["kind"].startswith("reversal:") for e in entries)  # history kept, nothing deleted
    assert api.get("/api/v1/ledger/check", "auditor").json()["ok"] is True


def test_interest_runs_in_order_and_once(api: Api) -> None:
    pid = api.enrol(PERSON)
    api.pay(pid, 2010, 10000, "2010-09-01")
    assert (
        api.post("/api/v1/interest-runs", json={"year": 2011}).status_code == 422
    )  # 2010 not run yet
    first = api.post("/api/v1/interest-runs", json={"year": 2010})
    assert first.status_code == 201 and first.json() == {
        "year": 2010,
        "accounts": 0,
        "total_fen": 0,
    }
    r2011 = api.post("/api/v1/interest-runs", json={"year": 2011})
    assert r2011.json() == {"year": 2011, "accounts": 2, "total_fen": 275 + 83}
    again = api.post("/api/v1/interest-runs", json={"year": 2011})
    assert again.status_code == 200 and again.json() == r2011.json()
    assert api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["balance_fen"] == 13000 + 358
    assert (
        api.post("/api/v1/interest-runs", json={"year": 2026}).status_code == 422
    )  # 31 Dec not reached
