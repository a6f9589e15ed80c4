"""The money services' guards that the API's own checks stop before they are reached: a
service called directly (as the CLI, the four-eyes confirmation and the set-based jobs call
it) must still refuse a blank reason, an unknown contribution, a second reversal and a payroll
release that is not pending. Each refusal leaves the ledger as it was."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend import ledger
from backend.errors import Conflict, InvalidInput, NotFound
from backend.services import contributions, payroll
from backend.services.context import Actor
from tests.backend.conftest import Api
from tests.backend.test_benefits_worked import run
from tests.backend.test_money_branches import OLD, YOUNG, service

SECOND_ADMIN = Actor(kind="user", name="checker", role="admin")


def test_the_reversal_service_refuses_what_the_route_never_sends(api: Api) -> None:
    pid = api.enrol(YOUNG, enrolled_on="2010-08-01")
    paid = api.pay(pid, 2011, 10000, "2011-03-01")
    assert paid.status_code == 201, paid.text
    cid = paid.json()["contribution_id"]

    with pytest.raises(InvalidInput) as blank, service(api) as ctx:
        contributions.reverse(ctx, cid, " \t ")
    assert blank.value.errors[0]["field"] == "reason"
    with pytest.raises(NotFound, match="con_nope"), service(api) as ctx:
        contributions.reverse(ctx, "con_nope", "typo")

    with service(api) as ctx:
        done = contributions.reverse(ctx, cid, "entered twice")
        assert done.reversal_posting_id is not None
    # the second caller loses on the conditional update: told, and nothing more is posted
    with pytest.raises(Conflict) as again, service(api) as ctx:
        contributions.reverse(ctx, cid, "entered twice")
    assert again.value.code == "already_reversed"

    account = api.get(f"/api/v1/persons/{pid}/account", "clerk").json()
    assert account["balance_fen"] == 0  # 10000 personal + 3000 subsidy, taken back once
    with service(api) as ctx:
        assert ledger.check(ctx.session).ok


def test_a_payroll_release_is_given_once_and_only_for_a_run_that_exists(api: Api) -> None:
    pid = api.enrol(OLD, enrolled_on="2010-07-05")
    awarded = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": "2010-07-20"})
    assert awarded.status_code == 201, awarded.text
    run_id = run(api, "2010-08")["run_id"]

    with pytest.raises(NotFound, match="run_nope"), service(api) as ctx:
        payroll.approve(ctx.session, "run_nope", SECOND_ADMIN)
    with service(api) as ctx:
        released = payroll.approve(ctx.session, run_id, SECOND_ADMIN)
        assert released.approved_by == SECOND_ADMIN.label
    with pytest.raises(Conflict) as twice, service(api) as ctx:
        payroll.approve(ctx.session, run_id, SECOND_ADMIN)
    assert twice.value.code == "not_pending"
    with service(api) as ctx:
        assert payroll.require_approved(ctx.session, run_id).approved_by == SECOND_ADMIN.label


def test_a_period_is_locked_for_one_run_at_a_time(db_url: str) -> None:
    """The period lock (PostgreSQL: an advisory lock; SQLite: flock beside the database file)
    refuses a second holder at once, frees the period when the first ends, and leaves other
    periods free: this is what a second `nongbao payroll run` of the same period meets."""
    engine = sa.create_engine(db_url)
    try:
        with payroll.period_lock(engine, "2027-01"):
            in_progress = pytest.raises(payroll.RunInProgress, match="2027-01 is already in")
            with in_progress, payroll.period_lock(engine, "2027-01"):
                pass
            with payroll.period_lock(engine, "2027-02"):
                pass
        with payroll.period_lock(engine, "2027-01"):
            pass
    finally:
        engine.dispose()


def test_a_private_in_memory_database_needs_no_lock() -> None:
    engine = sa.create_engine("sqlite://")
    with payroll.period_lock(engine, "2027-01"), payroll.period_lock(engine, "2027-01"):
        pass  # no second process can open a private in-memory database
