"""Property (hypothesis): the payroll's set-based SQL pays what the Python rule says, fen by fen.

Each example is a small random county: a policy variant (region class, so the central share
and its rounding; county top-up timeline; long-contribution bonus) and a few pensioners with
random awards, bucket balances, months already paid (gaps included), suspension history with
and without arrears, an open suspension or a lapsed certification. The payroll runs over the
real database (SQLite and PostgreSQL); every line it writes must equal
`rules.payment.line(...)` for that person, and no one the rule pays nothing is paid.

The examples share one database: each example's people get their own id prefix and are
terminated afterwards, so a later example's run pays only its own people."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import clock, ledger, months
from backend.crypto import Keyring
from backend.db import engine_for, session_scope
from backend.policy import Policy, load_policy
from backend.policy.model import MonthAmount
from backend.rules import payment, suspension
from backend.services import payroll
from backend.services.context import Actor

KEYRING = Keyring.generate()
ACTOR = Actor(kind="user", name="property", role="admin")
EXAMPLE = itertools.count()
# the months a random county's history spans (the default scheme started 2010-07)
EARLIEST = "2024-01"


@dataclass
class Facts:
    award: payment.AwardFacts
    balances: dict[str, int]
    paid: set[str] = field(default_factory=set)
    history: list[payment.SuspensionSpan] = field(default_factory=list)
    open_suspension: bool = False
    certified: bool = True


@dataclass
class County:
    policy: Policy
    period: str
    people: list[Facts]


def _month(index: int) -> str:
    return months.add(EARLIEST, index)


@st.composite
def facts(draw: st.DrawFn, period: str) -> Facts:
    span = months.index(period) - months.index(EARLIEST)
    first = draw(st.integers(0, span))
    settled = draw(st.integers(first - 1, span))
    pension = draw(st.integers(0, 3000))
    award = payment.AwardFacts(
        first_month=_month(first),
        settled_through=_month(settled),
        contribution_years=draw(st.integers(0, 30)),
        account_pension_fen=pension,
        government_part_fen=draw(st.integers(0, pension)),
    )
    balances = {b: draw(st.integers(0, 40_000)) for b in payment.BUCKETS}
    later = [_month(i) for i in range(settled + 1, span + 1)]
    paid = set(draw(st.lists(st.sampled_from(later), max_size=3))) if later else set()
    history = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, span))
        end = draw(st.integers(start, span))
        history.append(payment.SuspensionSpan(_month(start), _month(end), draw(st.booleans())))
    return Facts(
        award,
        balances,
        paid,
        history,
        open_suspension=draw(st.integers(0, 9)) == 0,
        certified=draw(st.integers(0, 9)) != 0,
    )


@st.composite
def counties(draw: st.DrawFn) -> County:
    base = load_policy()
    topups = [MonthAmount.model_validate({"from": "2010-07", "fen": draw(st.integers(0, 500))})]
    if draw(st.booleans()):
        change = _month(draw(st.integers(0, 30)))
        topups.append(
            MonthAmount.model_validate({"from": change, "fen": draw(st.integers(0, 999))})
        )
    policy = base.model_copy(
        update={
            # eastern: the central government pays half the minimum (odd minima round)
            "region_class": draw(st.sampled_from(["western", "eastern"])),
            "county_topup": topups,
            "long_contribution_bonus_fen": draw(st.integers(0, 300)),
            "long_contribution_base_years": draw(st.integers(10, 20)),
        }
    )
    today_month = months.of(clock.today())
    period = months.add(today_month, -draw(st.integers(0, 6)))
    people = draw(st.lists(facts(period), min_size=1, max_size=4))
    return County(policy, period, people)


def _insert(conn: sa.Connection, table: str, row: dict[str, object]) -> None:
    names = ", ".join(f'"{k}"' if k == "on" else k for k in row)
    conn.execute(
        sa.text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in row)})"), row
    )


def _write(engine: sa.Engine, county: County, prefix: str) -> list[str]:
    """The county's people, straight into the tables the payroll reads."""
    now, today = clock.now(), clock.today()
    run_on = payment.payroll_date(county.policy, county.period)
    ids = []
    with engine.begin() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM village WHERE code = 'VP01'")).first():
            _insert(conn, "village", {"code": "VP01", "name": "性质村", "township": "性质镇"})
        earlier_run = f"run_{prefix}"
        _insert(
            conn,
            "payroll_run",
            {"id": earlier_run, "period": EARLIEST, "run_on": today, "status": "completed",
             "paid": 0, "total_fen": 0, "suspended": 0, "created_by": "property", "created_at": now},
        )  # fmt: skip
        for i, f in enumerate(county.people):
            pid = f"{prefix}_{i}"
            ids.append(pid)
            a = f.award
            _insert(
                conn,
                "person",
                {"id": pid, "id_hash": KEYRING.lookup_hash(pid), "id_number_enc": KEYRING.encrypt_text(pid, pid),
                 "name": f"性质{i}", "birth_date": "1950-01-01", "gender": "female", "village_code": "VP01",
                 "student": False, "urban_employee_pension": False, "severely_disabled": False,
                 "homebound": False, "enrolled_on": "2010-07-01",
                 "status": "suspended" if f.open_suspension else "receiving",
                 "created_at": now, "updated_at": now},
            )  # fmt: skip
            for bucket, balance in f.balances.items():
                _insert(
                    conn,
                    "ledger_account",
                    {"code": ledger.bucket_code(pid, bucket), "kind": "bucket", "person_id": pid,
                     "bucket": bucket, "no_negative": True, "debits_posted": 0, "credits_posted": balance},
                )  # fmt: skip
            _insert(
                conn,
                "award",
                {"id": f"awd_{pid}", "person_id": pid, "awarded_on": months.first_day(a.first_month),
                 "first_month": a.first_month, "eligibility_group": "young", "family_binding": False,
                 "contribution_years": a.contribution_years, "account_pension_fen": a.account_pension_fen,
                 "account_total_at_award_fen": 0, "government_at_award_fen": 0,
                 "government_part_fen": a.government_part_fen, "settled_through": a.settled_through,
                 "created_by": "property", "created_at": now},
            )  # fmt: skip
            # valid on the payroll date, or run out the month before the period
            first, last = (
                (months.add(county.period, -2), months.add(county.period, 10))
                if f.certified
                else (months.add(county.period, -13), months.add(county.period, -1))
            )
            on, until = months.first_day(first), months.first_day(last)
            _insert(
                conn,
                "certification",
                {"id": f"cer_{pid}", "person_id": pid, "channel": "counter", "outcome": "passed",
                 "certified_on": on, "valid_until": until, "actor": "property", "reasons": "[]",
                 "evidence": "", "created_at": now},
            )  # fmt: skip
            assert f.certified == (on <= run_on <= until)
            spans = [*f.history]
            if f.open_suspension:
                spans.append(payment.SuspensionSpan(a.first_month, None, True))
            for j, s in enumerate(spans):
                _insert(
                    conn,
                    "suspension",
                    {"id": f"sus_{pid}_{j}", "person_id": pid, "reason": "manual", "from_month": s.from_month,
                     "to_month": s.to_month, "arrears": s.arrears, "note": "", "created_by": "property",
                     "created_at": now, "lifted_at": now if s.to_month else None},
                )  # fmt: skip
            for m in sorted(f.paid):
                _insert(
                    conn,
                    "paid_month",
                    {"person_id": pid, "month": m, "run_id": earlier_run, "basic_fen": 0, "account_fen": 0,
                     "central_fen": 0, "county_fen": 0, "posting_id": "pst_earlier"},
                )  # fmt: skip
    return ids


def _lines(engine: sa.Engine, run_id: str, ids: list[str]) -> dict[str, tuple[int, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT person_id, months, basic_fen, account_fen, arrears_fen, total_fen, from_government_fen, "
                "from_personal_fen, from_collective_fen, from_other_fen, from_pool_fen FROM payroll_line WHERE run_id = :run"
            ),
            {"run": run_id},
        ).all()
    return {r[0]: tuple(int(v) for v in r[1:]) for r in rows if r[0] in ids}


def _lapses(engine: sa.Engine, run_id: str, ids: list[str]) -> dict[str, bool]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT person_id, arrears FROM suspension WHERE reason = 'certification_lapsed' "
                "AND id LIKE :tag"
            ),
            {"tag": f"sus_L{run_id[-8:]}_%"},
        ).all()
    return {r[0]: bool(r[1]) for r in rows if r[0] in ids}


def _expected(county: County, f: Facts) -> tuple[int, ...] | None:
    if f.open_suspension or not f.certified:
        return None  # suspended (open, or the lapse the run itself imposes): not paid
    line = payment.line(county.policy, f.award, county.period, f.paid, f.history, f.balances)
    if line is None:
        return None
    d = line.draw
    return (
        line.months,
        line.basic_fen,
        line.account_fen,
        line.arrears_fen,
        line.total_fen,
        d.government_fen,
        d.personal_fen,
        d.collective_fen,
        d.other_fen,
        d.pool_fen,
    )


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(county=counties())
def test_payroll_sql_pays_what_the_rule_says_fen_by_fen(db_url: str, county: County) -> None:
    engine = engine_for(db_url)
    with session_scope(engine) as s:
        ledger.ensure_fund_accounts(s)
    prefix = f"pp{next(EXAMPLE):04d}"
    ids = _write(engine, county, prefix)
    try:
        result = payroll.run(engine, county.policy, ACTOR, clock.today(), county.period)
        got = _lines(engine, result.run_id, ids)
        lapsed = _lapses(engine, result.run_id, ids)
        for pid, f in zip(ids, county.people, strict=True):
            assert got.get(pid) == _expected(county, f), (pid, f)
            # a receiving person without a valid certification is suspended by the run, with
            # the rule's arrears flag for a lapse
            expected_lapse = not f.certified and not f.open_suspension
            assert lapsed.get(pid) == (
                suspension.ARREARS_BY_REASON["certification_lapsed"] if expected_lapse else None
            ), pid
    finally:
        with engine.begin() as conn:  # out of the next example's runs
            conn.execute(
                sa.text("UPDATE person SET status = 'terminated' WHERE id LIKE :p"),
                {"p": prefix + "_%"},
            )
