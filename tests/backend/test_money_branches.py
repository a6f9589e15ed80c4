"""The money services' less travelled paths: every refusal, the idempotent repeats, the ledger's
own guards and its check finding a database edited behind its back, and the settlement's rarer
cases (interest of the year of death, the funeral grant, owed months the account cannot cover).

Amounts are computed by hand from DOMAIN.md's rules for the default county (scheme start
2010-07-01 under the 2009 set, western province, divisor 139, no interest unless run).
Where the API's own validation stops a request before the service sees it, the service is
called directly (the CLI and the set-based jobs call it that way too).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from backend import ledger
from backend.db import session_scope
from backend.errors import Conflict, InvalidInput
from backend.ledger import Transfer, bucket_code
from backend.services import awards, contributions, payroll, settlement
from backend.services.context import SYSTEM, Ctx
from tests.backend.conftest import Api, bootstrap, make_settings, valid_id
from tests.backend.test_benefits_worked import run
from tests.conftest import ROOT, TODAY

BUSINESS_RULE = "https://nongbao.example/problems/business-rule"
INVALID_INPUT = "https://nongbao.example/problems/invalid-input"
NOT_FOUND = "https://nongbao.example/problems/not-found"
CONFLICT = "https://nongbao.example/problems/conflict"

OLD = valid_id("110105", "19450801", "031")  # 64 at the scheme start: basic pension only
NEAR = valid_id("110105", "19510101", "033")  # 59 at the scheme start: must pay 2010 only
YOUNG = valid_id("110105", "19700101", "035")  # 40 at the scheme start: a contributor


def engine_of(api: Api) -> Engine:
    return api.client.app.state.nongbao.engine  # type: ignore[attr-defined]  # a FastAPI app


@contextmanager
def service(api: Api) -> Iterator[Ctx]:
    """A service call's unit of work on the app's database, committed when the block ends."""
    st = api.client.app.state.nongbao  # type: ignore[attr-defined]
    with session_scope(st.engine) as s:
        yield Ctx(s, st.policy, st.keyring, today=TODAY)


def problem(r, status: int, type_: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert body["type"] == type_, body
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field], body
    return body


def central_minimum_fen(month: str) -> int:
    """DOMAIN.md's national timeline of the central minimum basic pension, in fen a month."""
    steps = [
        ("2010-07", 5500),
        ("2014-07", 7000),
        ("2018-01", 8800),
        ("2020-01", 9300),
        ("2022-01", 9800),
        ("2023-01", 10300),
        ("2024-01", 12300),
        ("2025-01", 14300),
    ]
    return [fen for start, fen in steps if start <= month][-1]


def months_between(first: str, last: str) -> list[str]:
    out, (y, m) = [], (int(first[:4]), int(first[5:]))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def near_pensioner(api: Api) -> str:
    """Born 1951-01-01, paid 2010 (100 yuan + 30 subsidy = 13000 fen), awarded 2011-01-05:
    account pension round(13000/139) = round(93.53) = 94, its government part
    round(94 x 3000/13000) = round(21.69) = 22; first month 2011-02."""
    pid = api.enrol(NEAR, name="钱大伯", enrolled_on="2010-07-10")
    assert api.pay(pid, 2010, 10000, "2010-08-01").status_code == 201
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2011-01-05"})
    assert r.status_code == 201, r.text
    award = r.json()
    assert (award["account_pension_fen"], award["first_month"], award["eligibility_group"]) == (
        94,
        "2011-02",
        "near",
    )
    return pid


# --- contributions ------------------------------------------------------------------------


def test_contribution_refusals_and_the_list(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    paid = api.pay(pid, 2011, 10000, "2011-03-01")
    assert paid.status_code == 201, paid.text
    listed = api.get(f"/api/v1/persons/{pid}/contributions", "clerk")
    assert listed.status_code == 200, listed.text
    assert [
        (c["year"], c["tier_fen"], c["government_fen"], c["reversed"]) for c in listed.json()
    ] == [(2011, 10000, 3000, False)]
    assert api.get("/api/v1/persons/nobody/contributions", "clerk").status_code == 404

    # a correction needs a reason that says something, and a contribution that exists
    cid = paid.json()["contribution_id"]
    blank = api.post(f"/api/v1/contributions/{cid}/reversal", "clerk", json={"reason": "   "})
    problem(blank, 422, INVALID_INPUT, "reason")
    missing = api.post("/api/v1/contributions/con_nope/reversal", "clerk", json={"reason": "typo"})
    problem(missing, 404, NOT_FOUND)

    # a frozen account takes no payment
    r = api.post(f"/api/v1/persons/{pid}/freeze", "clerk", json={"reason": "duplicate check"})
    assert r.status_code == 200, r.text
    frozen = api.pay(pid, 2012, 10000, "2012-03-01")
    assert problem(frozen, 422, BUSINESS_RULE)["detail"] == (
        "contributions are not accepted: the person is frozen"
    )
    assert [c["year"] for c in api.get(f"/api/v1/persons/{pid}/contributions", "clerk").json()] == [
        2011
    ]


def test_paid_on_behalf_carries_no_personal_amount(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01", severely_disabled=True)
    refused = api.pay(pid, 2011, 10000, "2011-03-01", kind="on_behalf")
    problem(refused, 422, INVALID_INPUT, "personal_fen")
    ok = api.pay(pid, 2011, 0, "2011-03-01", kind="on_behalf")
    assert ok.status_code == 201, ok.text
    # the county pays the lowest tier of the 2009 set (100 yuan) and its subsidy (30 yuan)
    assert (ok.json()["tier_fen"], ok.json()["government_fen"], ok.json()["balance_fen"]) == (
        10000,
        13000,
        13000,
    )


def test_a_kind_the_api_cannot_send_is_refused_by_the_service(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    req = contributions.ContributionRequest(pid, 2011, 10000, date(2011, 3, 1), kind="gift")
    with pytest.raises(InvalidInput) as err, service(api) as ctx:
        contributions.pay(ctx, req)
    assert err.value.errors[0]["field"] == "kind"
    assert api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["balance_fen"] == 0


def test_a_reversal_that_would_leave_a_bucket_negative_posts_nothing(api: Api) -> None:
    """The 2010 contribution (10000 personal, 3000 government) has been drawn on by the
    February 2011 payroll (94 = 22 government + 72 personal): reversing it would take 10000
    from a personal bucket holding 9928, so the ledger refuses and nothing changes."""
    pid = near_pensioner(api)
    assert run(api, "2011-02")["total_fen"] == 5500 + 94
    cid = api.get(f"/api/v1/persons/{pid}/contributions", "clerk").json()[0]["contribution_id"]
    proposed = api.post(
        f"/api/v1/contributions/{cid}/reversal", "clerk", json={"reason": "wrong person"}
    )
    assert proposed.status_code == 202, proposed.text  # four eyes: a second clerk confirms
    r = api.confirm(proposed.json()["request_id"])
    body = problem(r, 409, CONFLICT)
    assert (
        body["detail"]
        == f"account {bucket_code(pid, 'personal')} would go negative; nothing was posted"
    )
    account = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()
    assert account["buckets"] == {
        "personal_fen": 10000 - 72,
        "collective_fen": 0,
        "other_fen": 0,
        "government_fen": 3000 - 22,
    }
    assert api.get(f"/api/v1/persons/{pid}/contributions", "clerk").json()[0]["reversed"] is False
    with service(api) as ctx:
        assert ledger.check(ctx.session).ok


# --- interest and awards --------------------------------------------------------------------


def test_interest_before_the_scheme_is_refused(api: Api) -> None:
    problem(api.post("/api/v1/interest-runs", json={"year": 2009}), 422, INVALID_INPUT, "year")


def test_a_29_february_birthday_counts_from_1_march_in_a_common_year() -> None:
    assert awards.birthday(date(1952, 2, 29), 60) == date(2012, 2, 29)  # 2012 is a leap year
    assert awards.birthday(date(1952, 2, 29), 61) == date(2013, 3, 1)  # a county's age of 61
    assert awards.birthday(date(1952, 3, 1), 61) == date(2013, 3, 1)


def test_a_cancelled_enrolment_gets_no_award_and_no_settlement(api: Api) -> None:
    pid = api.enrol(OLD, enrolled_on="2010-07-05")
    r = api.post(
        f"/api/v1/persons/{pid}/cancel",
        "clerk",
        json={"cancelled_on": "2010-07-10", "reason": "moved to another county"},
    )
    assert r.status_code == 200, r.text
    refused = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert problem(refused, 422, BUSINESS_RULE)["detail"] == "no award: the person is cancelled"
    died = api.post(f"/api/v1/persons/{pid}/death", "clerk", json={"date_of_death": "2012-01-01"})
    assert problem(died, 422, BUSINESS_RULE)["detail"] == (
        "the person's enrolment was cancelled; nothing to settle"
    )


# --- payroll --------------------------------------------------------------------------------


def test_a_killed_run_is_resumed_and_pays_once(api: Api) -> None:
    """A run whose process died after opening it is finished by running the period again:
    the same run, resumed, paying the basic pension of 55 yuan once."""
    pid = api.enrol(OLD, enrolled_on="2010-07-05")
    assert (
        api.post(
            f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"}
        ).status_code
        == 201
    )
    with service(api) as ctx:
        opened, resumed = payroll._open_run(ctx.session, "2010-08", date(2010, 8, 20), ctx.actor)
        assert resumed is False
    result = run(api, "2010-08")
    assert (result["run_id"], result["resumed"], result["paid"], result["total_fen"]) == (
        opened.id,
        True,
        1,
        5500,
    )
    again = run(api, "2010-08")
    assert (again["resumed"], again["paid"], again["total_fen"]) == (False, 0, 0)
    problem(api.get("/api/v1/payroll-runs/run_nope/lines"), 404, NOT_FOUND)


def test_a_paced_run_reports_its_progress(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash tests' pause between chunks, and the CLI's progress callback: one chunk of
    one person, reported once, paid 55 + 94 = 149 yuan."""
    pid = near_pensioner(api)
    monkeypatch.setenv("NONGBAO_PAYROLL_PAUSE_S", "0.01")
    seen: list[tuple[int, int]] = []
    st = api.client.app.state.nongbao  # type: ignore[attr-defined]
    result = payroll.run(
        st.engine,
        st.policy,
        SYSTEM,
        TODAY,
        "2011-02",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 1)]
    assert (result.paid, result.total_fen, result.run_on) == (1, 5500 + 94, date(2011, 2, 20))
    assert api.get(f"/api/v1/persons/{pid}/payments", "clerk").json()["payments"][0][
        "total_fen"
    ] == (5500 + 94)


# --- the ledger's guards and its check --------------------------------------------------------


def test_the_ledger_refuses_malformed_transfers(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    personal = bucket_code(pid, "personal")
    for transfers, error, words in (
        ([Transfer("source:personal", "person:nobody:personal", 1, "x")], LookupError, "unknown"),
        ([Transfer("source:personal", personal, 0, "x")], ValueError, "positive integer"),
        ([Transfer("source:personal", personal, 1.5, "x")], ValueError, "positive integer"),  # type: ignore[arg-type]
        ([Transfer(personal, personal, 5, "x")], ValueError, "two different accounts"),
        ([Transfer(personal, "source:personal", 1, "x")], ledger.InsufficientBalance, "negative"),
    ):
        with pytest.raises(error, match=words), service(api) as ctx:
            ledger.post(
                ctx.session, idempotency_key="bad", operation="test", on=TODAY, transfers=transfers
            )
    with service(api) as ctx:
        assert ledger.find_posting(ctx.session, "bad") is None
        assert ledger.check(ctx.session).ok


def test_a_posting_is_reversed_once(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    posting = api.pay(pid, 2011, 10000, "2011-03-01").json()
    with service(api) as ctx:
        pst = ledger.find_posting(ctx.session, f"contribution:{posting['contribution_id']}")
        assert pst is not None
        with pytest.raises(LookupError, match="no posting"):
            ledger.reverse(ctx.session, "pst_nope", on=TODAY, idempotency_key="r0")
        first = ledger.reverse(ctx.session, pst.id, on=TODAY, idempotency_key="r1")
        repeat = ledger.reverse(ctx.session, pst.id, on=TODAY, idempotency_key="r1")
        assert (first.created, repeat.created, repeat.posting_id) == (True, False, first.posting_id)
        with pytest.raises(Conflict, match="already been reversed"):
            ledger.reverse(ctx.session, pst.id, on=TODAY, idempotency_key="r2")
        assert ledger.person_buckets(ctx.session, pid) == {
            "personal": 0,
            "collective": 0,
            "other": 0,
            "government": 0,
        }
        assert ledger.check(ctx.session).ok


def test_the_check_names_every_kind_of_tampering(api: Api) -> None:
    """Rows edited behind the ledger's back, even past the database's own CHECKs (dropped
    here, as a careless migration or a hand edit could): the check finds each one."""
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    assert api.pay(pid, 2011, 10000, "2011-03-01").status_code == 201
    engine = engine_of(api)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for name in ("ck_transfer_positive", "ck_transfer_two_accounts"):
                conn.execute(sa.text(f"ALTER TABLE ledger_transfer DROP CONSTRAINT {name}"))
        else:
            conn.execute(sa.text("PRAGMA ignore_check_constraints = ON"))
        ids: dict[str, int] = {
            code: id_ for code, id_ in conn.execute(sa.text("SELECT code, id FROM ledger_account"))
        }
        posting = conn.execute(
            sa.text("SELECT posting_id FROM ledger_transfer ORDER BY id LIMIT 1")
        ).scalar_one()
        insert = sa.text(
            'INSERT INTO ledger_transfer (posting_id, debit_account_id, credit_account_id, amount_fen, "on", code) '
            "VALUES (:p, :d, :c, :a, :on, 'tampered')"
        )
        personal, source = ids[bucket_code(pid, "personal")], ids["source:personal"]
        conn.execute(insert, {"p": posting, "d": source, "c": source, "a": 0, "on": TODAY})
        conn.execute(insert, {"p": posting, "d": personal, "c": source, "a": 10001, "on": TODAY})
        conn.execute(
            sa.text("UPDATE ledger_account SET credits_posted = credits_posted + 7 WHERE id = :id"),
            {"id": ids["fund:pool"]},
        )
    with service(api) as ctx:
        ledger.post(ctx.session, idempotency_key="empty", operation="test", on=TODAY, transfers=[])
        report = ledger.check(ctx.session)
    assert not report.ok
    personal_code = bucket_code(pid, "personal")
    assert sorted(report.breaches) == sorted(
        [
            "1 transfers with a non-positive amount or one account on both sides",
            f"{personal_code}: kept totals debits=0 credits=10000 "
            "differ from its transfers debits=10001 credits=10000",
            f"{personal_code} is negative: -1 fen",
            "source:personal: kept totals debits=10000 credits=0 "
            "differ from its transfers debits=10000 credits=10001",
            "fund:pool: kept totals debits=0 credits=7 differ from its transfers debits=0 credits=0",
            f"total debits {report.total_debits_fen} != total credits {report.total_credits_fen}",
            "1 postings without transfers",
        ]
    )
    assert report.total_credits_fen - report.total_debits_fen == 7


# --- settlement ---------------------------------------------------------------------------


def test_ending_an_entitlement_refuses_what_it_cannot_settle(api: Api) -> None:
    contributor = api.enrol(YOUNG, enrolled_on="2010-08-01")
    odd_source = api.post(
        f"/api/v1/persons/{contributor}/death",
        "clerk",
        json={"date_of_death": "2020-01-01", "source": "gossip"},
    )
    problem(odd_source, 422, INVALID_INPUT, "source")
    no_award = api.post(
        f"/api/v1/persons/{contributor}/other-pension", "clerk", json={"started_on": "2020-01-01"}
    )
    assert problem(no_award, 422, BUSINESS_RULE)["detail"] == (
        "the person has no award; record the employee pension as a change instead"
    )
    assert api.get(f"/api/v1/persons/{contributor}", "clerk").json()["status"] == "enrolled"


def test_repayment_refusals(api: Api) -> None:
    """Died 2010-07-10 before the first month 2010-08: August and September (2 x 5500) were
    overpaid, with no account to offset: a recovery order for 11000 fen."""
    pid = api.enrol(OLD, enrolled_on="2010-07-05")
    api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
    run(api, "2010-08")
    run(api, "2010-09")
    s = api.end(pid, {"date_of_death": "2010-07-10"})
    assert (s.json()["recovery_due_fen"], s.json()["overpaid_fen"]) == (11000, 11000)
    order = s.json()["recovery_order_id"]
    url = f"/api/v1/recovery-orders/{order}/repayments"
    future = TODAY.replace(year=TODAY.year + 1).isoformat()
    problem(
        api.post(url, json={"amount_fen": 100, "paid_on": future}), 422, INVALID_INPUT, "paid_on"
    )
    too_much = api.post(url, json={"amount_fen": 11001, "paid_on": "2026-01-05"})
    assert (
        problem(too_much, 422, BUSINESS_RULE)["detail"]
        == "only 11000 fen is still due on this order"
    )
    problem(
        api.post(
            "/api/v1/recovery-orders/rec_nope/repayments",
            json={"amount_fen": 1, "paid_on": "2026-01-05"},
        ),
        404,
        NOT_FOUND,
    )
    with pytest.raises(InvalidInput) as err, service(api) as ctx:
        settlement.repay(ctx, order, 0, date(2026, 1, 5))
    assert err.value.errors[0]["field"] == "amount_fen"
    paid = api.post(url, json={"amount_fen": 11000, "paid_on": "2026-01-05"})
    assert (paid.json()["repaid_fen"], paid.json()["status"]) == (11000, "settled")


def test_death_registry_skips_blank_lines_and_names_short_ones(api: Api) -> None:
    pid = api.enrol(OLD, enrolled_on="2010-07-05")
    text = f"id_number,name,date_of_death\n\n,,\n{OLD},赵大爷\n"
    r = api.post(
        "/api/v1/imports/death-registry",
        files={"file": ("deaths.csv", text.encode(), "text/csv")},
    )
    body = problem(r, 422, INVALID_INPUT)
    assert body["errors"] == [{"field": "line 4", "message": "expected 3 columns, got 2"}]
    assert api.get(f"/api/v1/persons/{pid}", "clerk").json()["status"] == "enrolled"


def test_no_interest_for_the_year_of_death(api: Api) -> None:
    """Paid 2010 and 2011 (100 yuan + 30 each). Interest of 2011 on the balance of 1 January
    2011 at 2.75%: personal round(10000 x 0.0275) = 275, government round(3000 x 0.0275)
    = round(82.5) = 83, credited 2011-12-31. Died 2011-10-01: those 358 fen are taken back.
    A 2011 death falls under the 2009 set, so the government bucket (6000) returns to the
    fund and the heirs get the personal bucket (20000)."""
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    assert api.pay(pid, 2010, 10000, "2010-08-01").status_code == 201
    assert api.pay(pid, 2011, 10000, "2011-03-01").status_code == 201
    assert api.post("/api/v1/interest-runs", json={"year": 2010}).json()["total_fen"] == 0
    assert api.post("/api/v1/interest-runs", json={"year": 2011}).json() == {
        "year": 2011,
        "accounts": 2,
        "total_fen": 358,
    }
    r = api.end(pid, {"date_of_death": "2011-10-01"})
    assert r.status_code == 200, r.text
    settlement = {
        k: v for k, v in r.json().items() if k.endswith("_fen") or k == "recovery_order_id"
    }
    assert settlement == {
        "overpaid_fen": 0,
        "inheritable_fen": 20000,
        "offset_fen": 0,
        "paid_to_heirs_fen": 20000,
        "returned_to_fund_fen": 6000,
        "recovery_due_fen": 0,
        "funeral_grant_fen": 0,
        "owed_months_paid_to_heirs_fen": 0,
        "interest_reversed_fen": 358,
        "recovery_order_id": None,
    }
    buckets = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["buckets"]
    assert set(buckets.values()) == {0}


def test_owed_months_beyond_the_account_come_from_the_pool(api: Api) -> None:
    """Awarded 2011-01-05 (account 13000 fen, pension 94 a month, 22 of it government) and
    never paid; died 2026-10-15. The heirs get every month 2011-02..2026-10 (189 months): the
    basic pension of each month (1 contribution year: no bonus) and 189 x 94 = 17766 fen of
    account pension, of which the account holds 13000 and the pool pays 4766."""
    pid = near_pensioner(api)
    owed = months_between("2011-02", "2026-10")
    assert len(owed) == 189
    basic = sum(central_minimum_fen(m) for m in owed)
    r = api.end(pid, {"date_of_death": "2026-10-15"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["owed_months_paid_to_heirs_fen"] == basic + 189 * 94
    assert (s["inheritable_fen"], s["paid_to_heirs_fen"], s["returned_to_fund_fen"]) == (0, 0, 0)
    assert set(api.get(f"/api/v1/persons/{pid}/account", "clerk").json()["buckets"].values()) == {0}
    with service(api) as ctx:
        assert ledger.check(ctx.session).ok
        pool = ctx.session.execute(
            sa.text(
                "SELECT COALESCE(SUM(t.amount_fen), 0) FROM ledger_transfer t JOIN ledger_account a "
                "ON a.id = t.debit_account_id WHERE a.code = 'fund:pool' AND t.code = 'owed_account_pension'"
            )
        ).scalar_one()
    assert pool == 189 * 94 - 13000


def test_the_funeral_grant_goes_to_the_heirs(db_url: str, tmp_path: Path) -> None:
    """A county that pays a 500-yuan funeral grant: a pensioner with no account who died in
    the month of the award leaves the heirs exactly the grant."""
    from backend.app import create_app

    policy = (ROOT / "backend/policy/default_county.toml").read_text()
    assert "funeral_grant_fen = 0\n" in policy
    custom = tmp_path / "county.toml"
    custom.write_text(policy.replace("funeral_grant_fen = 0\n", "funeral_grant_fen = 50000\n"))
    bootstrap(db_url, tmp_path)
    settings = make_settings(db_url, tmp_path).model_copy(update={"policy_file": custom})
    with TestClient(create_app(settings, today=lambda: TODAY)) as client:
        api = Api(client)
        pid = api.enrol(OLD, enrolled_on="2010-07-05")
        assert (
            api.post(
                f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"}
            ).status_code
            == 201
        )
        r = api.end(pid, {"date_of_death": "2010-07-25"})
        assert r.status_code == 200, r.text
        s = r.json()
    assert (s["funeral_grant_fen"], s["paid_to_heirs_fen"], s["overpaid_fen"]) == (50000, 50000, 0)
