"""A money movement and its audit event commit together or not at all.

The failure is injected where a crash would hurt: the audit write itself fails after the
postings were made and before the commit. Every table of the database must then be exactly as
before (no posting, no contribution, no idempotency record, no event); without the fault the
same call leaves both the money and its event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from backend.db import engine_for
from backend.models import AuditEvent
from backend.services import audit
from tests.backend.conftest import Api, valid_id
from tests.backend.test_benefits_worked import run
from tests.backend.test_cli import nongbao
from tests.live import server_env

OLD = valid_id("110105", "19450801", "021")  # 60 at the scheme start: can be awarded at once
YOUNG = valid_id("110105", "19700101", "031")


class AuditWriteFailed(RuntimeError):
    pass


@contextmanager
def failing_audit(monkeypatch: pytest.MonkeyPatch, action: Callable[[str], bool]) -> Iterator[None]:
    """Every audit append whose action matches fails, as a crash at that point would."""
    real = audit.append

    def append(session: Session, actor: Any, what: str, *a: Any, **kw: Any) -> int:
        if action(what):
            raise AuditWriteFailed(what)
        return real(session, actor, what, *a, **kw)

    with monkeypatch.context() as m:
        m.setattr(audit, "append", append)
        yield


def snapshot(db_url: str) -> dict[str, int]:
    """The number of rows of every table: the whole database's state, coarsely."""
    engine = engine_for(db_url)
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
            for t in sa.inspect(engine).get_table_names()
            if t != "alembic_version"
        }


def actions(db_url: str) -> list[str]:
    with Session(engine_for(db_url)) as s:
        return [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]  # type: ignore[arg-type]


def _pensioner(api: Api) -> str:
    pid = api.enrol(OLD, name="赵大爷", enrolled_on="2010-07-05")
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert r.status_code == 201, r.text
    return pid


def _contribution(api: Api) -> Callable[[], Any]:
    pid = api.enrol(YOUNG, name="李四")
    body = {"person_id": pid, "year": 2011, "personal_fen": 10000, "paid_on": "2011-03-01"}
    return lambda: api.post(
        "/api/v1/contributions", "clerk", json=body, headers={"Idempotency-Key": "c-1"}
    )


def _award(api: Api) -> Callable[[], Any]:
    pid = api.enrol(OLD, name="赵大爷", enrolled_on="2010-07-05")
    return lambda: api.post(
        f"/api/v1/persons/{pid}/award",
        "clerk",
        json={"awarded_on": "2010-07-20"},
        headers={"Idempotency-Key": "a-1"},
    )


def _repayment(api: Api) -> Callable[[], Any]:
    pid = _pensioner(api)
    run(api, "2010-08")
    # four eyes: reported by one clerk, confirmed by a second; the confirmation settles
    death = api.end(pid, {"date_of_death": "2010-07-10"})
    assert death.status_code == 200, death.text
    order = death.json()["recovery_order_id"]
    return lambda: api.post(
        f"/api/v1/recovery-orders/{order}/repayments",
        "clerk",
        json={"amount_fen": 1000, "paid_on": "2010-12-01"},
        headers={"Idempotency-Key": "r-1"},
    )


def _old_scheme(api: Api) -> Callable[[], Any]:
    api.enrol(YOUNG, name="李四")
    data = f"id_number,name,balance_fen,as_of\n{YOUNG},李四,123456,2010-06-30\n".encode()
    return lambda: api.post(
        "/api/v1/imports/old-scheme", files={"file": ("old.csv", data, "text/csv")}
    )


def _death_registry(api: Api) -> Callable[[], Any]:
    """The import opens a pending termination and a review case per death (no money moves
    until a second person confirms): a failed audit write leaves neither behind."""
    _pensioner(api)
    run(api, "2010-08")
    data = f"id_number,name,date_of_death\n{OLD},赵大爷,2010-07-10\n".encode()
    return lambda: api.post(
        "/api/v1/imports/death-registry", files={"file": ("deaths.csv", data, "text/csv")}
    )


# events a service writes itself in the same transaction, besides the route's event
SERVICE_EVENTS = {"death_registry_import": ["termination.report", "imports.death_registry"]}

ROUTE_EVENT = {  # scenario: (set-up returning the call, the action of its event)
    "contribution": (_contribution, "POST /api/v1/contributions"),
    "award": (_award, "POST /api/v1/persons/"),
    "repayment": (_repayment, "POST /api/v1/recovery-orders/"),
    "old_scheme_import": (_old_scheme, "POST /api/v1/imports/old-scheme"),
    "death_registry_import": (_death_registry, "POST /api/v1/imports/death-registry"),
}


@pytest.mark.parametrize("scenario", sorted(ROUTE_EVENT))
def test_a_failed_audit_write_leaves_no_money_moved(
    api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    setup, action = ROUTE_EVENT[scenario]
    call = setup(api)
    api.auth("clerk"), api.auth("admin")  # sign in first: a sign-in is no part of the state
    before, events_before = snapshot(db_url), actions(db_url)

    with (
        failing_audit(monkeypatch, lambda what: what.startswith(action)),
        pytest.raises(AuditWriteFailed),
    ):
        call()
    assert snapshot(db_url) == before  # neither the postings nor the event nor the key

    r = call()  # the same call, the same key, nothing failing: both the money and the event
    assert r.status_code in (200, 201), r.text
    after = snapshot(db_url)
    assert any(after[t] > before[t] for t in after if t != "audit_event"), (before, after)
    new = actions(db_url)[len(events_before) :]
    assert [a for a in new if a.startswith(action)] == [new[-1]], new
    assert new[:-1] == SERVICE_EVENTS.get(scenario, []), new
    if scenario == "death_registry_import":  # pending termination + review case, together
        assert after["termination"] > before["termination"], (before, after)
        assert after["review_case"] > before["review_case"], (before, after)


def test_payroll_chunks_commit_with_their_events(
    api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pensioner(api)
    api.auth("admin")
    before = snapshot(db_url)
    with (
        failing_audit(monkeypatch, lambda what: what == "payroll.chunk"),
        pytest.raises(AuditWriteFailed),
    ):
        api.post("/api/v1/payroll-runs", json={"period": "2010-08", "run_on": "2010-08-20"})
    failed = snapshot(db_url)
    # the run was opened (with its own event) but no chunk paid anyone
    assert failed["payroll_line"] == before["payroll_line"] == 0
    assert failed["paid_month"] == before["paid_month"]
    assert failed["ledger_transfer"] == before["ledger_transfer"]
    assert "payroll.chunk" not in actions(db_url) and "payroll.run.open" in actions(db_url)

    out = run(api, "2010-08")  # resumes the interrupted run, and pays with its events
    assert out["paid"] == 1
    done = actions(db_url)
    assert done[-3:] == ["payroll.run.resume", "payroll.chunk", "payroll.run.complete"]
    assert snapshot(db_url)["payroll_line"] == 1


def test_the_cli_import_and_interest_run_record_their_events(
    api: Api, db_url: str, tmp_path: Path
) -> None:
    api.enrol(YOUNG, name="李四")
    data = tmp_path / "old.csv"
    data.write_text(f"id_number,name,balance_fen,as_of\n{YOUNG},李四,123456,2010-06-30\n")
    env = server_env(db_url, tmp_path)
    r = nongbao(["import", "old-scheme", str(data), "--json"], env)
    assert r.returncode == 0, r.stderr
    r = nongbao(["interest", "run", "--year", "2010", "--json"], env)
    assert r.returncode == 0, r.stderr
    assert actions(db_url)[-2:] == ["cli import old-scheme", "cli interest run"]
