"""Property-based tests of the ledger (hypothesis): any sequence of contributions, interest
runs and corrections keeps debits = credits, no bucket negative, and replaying a request
with its idempotency key changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import ledger
from backend.crypto import Keyring
from backend.db import engine_for, session_scope
from backend.errors import DomainError
from backend.policy import load_policy
from backend.services import contributions, interest, registry
from backend.services.context import Ctx
from tests.backend.conftest import valid_id
from tests.conftest import TODAY

KEYRING = Keyring.generate()
PEOPLE = [valid_id("110105", f"19{60 + i}0{i + 1}1{i}", f"00{i + 1}") for i in range(3)]

pay_op = st.tuples(
    st.just("pay"),
    st.integers(0, 2),  # person
    st.integers(2010, 2016),  # year
    st.sampled_from([10000, 20000, 30000, 50000, 60000, 15000]),  # personal (15000 is no tier)
    st.integers(0, 3000),  # collective
    st.sampled_from(["normal", "back_payment"]),
    st.integers(0, 2),  # years late
)
interest_op = st.tuples(st.just("interest"))
reverse_op = st.tuples(st.just("reverse"), st.integers(0, 20))
replay_op = st.tuples(st.just("replay"), st.integers(0, 20))


def _ctx(session):
    return Ctx(session=session, policy=load_policy(), keyring=KEYRING, today=TODAY)


def _setup(url: str) -> list[str]:
    from backend.models import Village

    with session_scope(engine_for(url)) as s:
        ledger.ensure_fund_accounts(s)
        s.add(Village(code="V001", name="东村"))
        s.flush()
        return [
            registry.enrol(
                _ctx(s),
                registry.Enrolment(
                    id_number=n, name=f"人{i}", village_code="V001", enrolled_on=date(2010, 7, 1)
                ),
            ).id
            for i, n in enumerate(PEOPLE)
        ]


def _snapshot(session) -> tuple[int, ...]:
    import sqlalchemy as sa

    tables = ("ledger_transfer", "ledger_posting", "contribution")
    counts = tuple(
        session.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables
    )
    totals = session.execute(
        sa.text("SELECT sum(debits_posted), sum(credits_posted) FROM ledger_account")
    ).one()
    return (*counts, *totals)


@pytest.mark.parametrize(
    "backend_name", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_any_sequence_keeps_the_invariants(
    backend_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend_name == "sqlite" else "pg_url")
    persons = _setup(url)
    engine = engine_for(url)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(st.one_of(pay_op, interest_op, reverse_op, replay_op), min_size=1, max_size=14))
    def run(ops: list[tuple]) -> None:
        posted_keys: list[str] = []
        for op in ops:
            try:
                with session_scope(engine) as s:
                    ctx = _ctx(s)
                    if op[0] == "pay":
                        _, who, year, personal, collective, kind, late = op
                        paid_year = year + (late if kind == "back_payment" else 0)
                        paid_on = date(min(paid_year, 2025), 6, 1)
                        c = contributions.pay(
                            ctx,
                            contributions.ContributionRequest(
                                persons[who], year, personal, paid_on, kind, collective
                            ),
                        )
                        posted_keys.append(f"contribution:{c.contribution.id}")
                    elif op[0] == "interest":
                        from sqlmodel import select

                        from backend.models import InterestRun

                        years = s.exec(select(InterestRun.year)).all()
                        interest.run(ctx, max(years, default=2009) + 1)
                    elif op[0] == "reverse":
                        from sqlmodel import col, select

                        from backend.models import Contribution

                        live = s.exec(
                            select(Contribution)
                            .where(col(Contribution.reversed_at).is_(None))
                            .order_by(col(Contribution.created_at))
                        ).all()
                        if live:
                            contributions.reverse(
                                ctx, live[op[1] % len(live)].id, "property test correction"
                            )
                    elif op[0] == "replay" and posted_keys:
                        key = posted_keys[op[1] % len(posted_keys)]
                        before = _snapshot(s)
                        original = ledger.find_posting(s, key)
                        assert original is not None
                        result = ledger.post(
                            s,
                            idempotency_key=key,
                            operation="replay",
                            on=date(2020, 1, 1),
                            transfers=[
                                ledger.Transfer(
                                    "source:personal",
                                    ledger.bucket_code(persons[0], "personal"),
                                    1,
                                    "replay",
                                )
                            ],
                        )
                        assert result.created is False and result.posting_id == original.id
                        s.flush()
                        assert _snapshot(s) == before
            except DomainError:
                pass  # refused by a rule: must have changed nothing (checked below)
            with session_scope(engine) as s:
                report = ledger.check(s)
                assert report.ok, report.breaches
                for pid in persons:
                    assert all(v >= 0 for v in ledger.person_buckets(s, pid).values())

    run()
