"""The monthly payroll, set-based.

A run pays, for every awarded person who is neither suspended nor terminated and whose
certification is valid on the payroll date, each owed and unpaid month up to the period.
All the work is SQL over the whole county (INSERT ... SELECT, UPDATE ... FROM), in chunks
of people, each chunk one transaction. The unique (person, month) key of `paid_month` makes
payment exactly-once: a run killed anywhere is resumed by running the period again.

The SQL states the rules of backend/rules/ set-wise and takes its constants and flags from
them: the month calendar and the bonus from `rules.award`, the arrears flags and the family
binding's deadline from `rules.suspension`, the draw order from `rules.payment`.
tests/backend/test_rules_payroll_property.py checks it against `rules.payment.line`, fen by fen.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend import clock, ledger, months
from backend.answers_staff import PayrollLineOut, PayrollLinesOut
from backend.db import session_scope
from backend.errors import Conflict, NotFound, field_error
from backend.ledger import Transfer
from backend.models import PayrollLine, PayrollRun
from backend.policy import Policy
from backend.rules import award as award_rule
from backend.rules import payment as payment_rule
from backend.rules import suspension as suspension_rule
from backend.services import audit, bank_changes
from backend.services.context import Actor
from backend.services.maker_checker import require_second_person

DEFAULT_CHUNK = 10_000
PARALLEL_CHUNKS = 2
# Suspension reasons and whether their months are paid back on resumption: the rule's table
ARREARS_BY_REASON = suspension_rule.ARREARS_BY_REASON


@dataclass
class RunResult:
    run_id: str
    period: str
    run_on: date
    paid: int
    total_fen: int
    suspended: int
    resumed: bool


ProgressFn = Callable[[int, int], None]


def validate_period(period: str, today: date, policy: Policy) -> str:
    period = months.parse(period)
    latest = months.add(months.of(today), 1)
    if period > latest:
        raise field_error(
            "period", f"{period} is too far ahead: the latest payroll that can run now is {latest}"
        )
    if period < months.of(policy.scheme_start):
        raise field_error("period", f"{period} is before the scheme started")
    return period


def run(
    engine: Engine,
    policy: Policy,
    actor: Actor,
    today: date,
    period: str,
    run_on: date | None = None,
    *,
    chunk_size: int | None = None,
    progress: ProgressFn | None = None,
) -> RunResult:
    period = validate_period(period, today, policy)
    run_on = run_on or payment_rule.payroll_date(policy, period)
    if months.of(run_on) != period:
        raise field_error("run_on", f"the payroll date {run_on.isoformat()} is not in {period}")
    chunk_size = chunk_size or int(os.environ.get("NONGBAO_PAYROLL_CHUNK", DEFAULT_CHUNK))
    pause = float(
        os.environ.get("NONGBAO_PAYROLL_PAUSE_S", "0")
    )  # fault-injection window for crash tests

    _ensure_statistics(engine)
    with period_lock(engine, period):
        return _run_locked(
            engine,
            policy,
            actor,
            period,
            run_on,
            chunk_size=chunk_size,
            progress=progress,
            pause=pause,
        )


def _run_locked(
    engine: Engine,
    policy: Policy,
    actor: Actor,
    period: str,
    run_on: date,
    *,
    chunk_size: int,
    progress: ProgressFn | None,
    pause: float,
) -> RunResult:
    with session_scope(engine) as s:
        ledger.ensure_fund_accounts(s)
        run_row, resumed = _open_run(s, period, run_on, actor)
        _apply_bank_changes(s, run_on, actor)
        suspended = _apply_suspensions(s, policy, run_row, actor)
        # every transaction of the run carries its own audit event, committed with it
        audit.append(
            s,
            actor,
            "payroll.run.resume" if resumed else "payroll.run.open",
            run_row.id,
            after={"period": period, "suspended": suspended},
        )
    bounds = _chunk_bounds(engine, chunk_size)
    calendar = _calendar(policy, period)

    def pay(bound: tuple[str, str | None]) -> None:
        with session_scope(engine) as s:
            _pay_chunk(s, policy, run_row, calendar, bound[0], bound[1], actor)
            # last, so that the chain's lock is held only for the commit
            audit.append(s, actor, "payroll.chunk", run_row.id, after={"from": bound[0]})
        if pause:
            time.sleep(pause)

    # chunks are disjoint sets of people: on PostgreSQL two run at once (one per core); SQLite
    # has one writer
    workers = PARALLEL_CHUNKS if engine.dialect.name == "postgresql" and not pause else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(pay, bounds), start=1):
            if progress:
                progress(done, len(bounds))
    with session_scope(engine) as s:
        fresh = s.get(PayrollRun, run_row.id)
        assert fresh is not None
        run_row = fresh
        c = PayrollLine.__table__.c
        paid, total = s.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(c.total_fen), 0)).where(
                c.run_id == run_row.id
            )
        ).one()
        run_row.paid, run_row.total_fen = int(paid), int(total)
        run_row.suspended += suspended
        run_row.status, run_row.completed_at = "completed", clock.now()
        s.add(run_row)
        audit.append(
            s,
            actor,
            "payroll.run.complete",
            run_row.id,
            after={"paid": run_row.paid, "total_fen": run_row.total_fen},
        )
    return RunResult(
        run_row.id, period, run_row.run_on, run_row.paid, run_row.total_fen, suspended, resumed
    )


class RunInProgress(Conflict):
    code = "payroll_run_in_progress"


# the advisory-lock namespace of payroll periods (PostgreSQL's two-key form: namespace, YYYYMM)
LOCK_NAMESPACE = 0x4E42  # "NB"


@contextmanager
def period_lock(engine: Engine, period: str) -> Iterator[None]:
    """One run of a period at a time, across processes and threads. A second run answers
    RunInProgress at once instead of racing the first into the exactly-once keys (which would
    end in an IntegrityError). The lock dies with its holder, so a killed run still resumes:
    PostgreSQL: a session advisory lock on a connection held for the run;
    SQLite: flock on a file beside the database (per open file, so threads conflict too)."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, period):
            yield
    else:
        with _file_lock(engine, period):
            yield


@contextmanager
def _pg_lock(engine: Engine, period: str) -> Iterator[None]:
    key = int(period.replace("-", ""))
    with engine.connect() as conn:
        got = conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": LOCK_NAMESPACE, "key": key}
        ).scalar_one()
        conn.commit()
        if not got:
            raise _in_progress(period)
        try:
            yield
        finally:
            conn.execute(
                sa.text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": LOCK_NAMESPACE, "key": key}
            )
            conn.commit()


@contextmanager
def _file_lock(engine: Engine, period: str) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a private in-memory database has no second process
        return
    path = f"{database}.payroll-{period}.lock"
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_progress(period) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _in_progress(period: str) -> RunInProgress:
    return RunInProgress(
        f"a run for {period} is already in progress; wait for it to finish (it pays each "
        "person once), then look at its result"
    )


def _rowcount(result: sa.Result[Any]) -> int:
    """The rows an INSERT or UPDATE wrote (Session.execute is typed as returning a Result,
    for these statements it is a CursorResult)."""
    return cast(sa.CursorResult[Any], result).rowcount


def _ensure_statistics(engine: Engine) -> None:
    """SQLite plans the payroll's subqueries badly without statistics (40 s instead of 0.5 s for
    3,000 people after a bulk load): gather them once if the database has none."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        has_stats = conn.execute(
            sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).scalar_one()
        if (
            not has_stats
            or not conn.execute(sa.text("SELECT count(*) FROM sqlite_stat1")).scalar_one()
        ):
            conn.execute(sa.text("ANALYZE"))


def _open_run(s: Session, period: str, run_on: date, actor: Actor) -> tuple[PayrollRun, bool]:
    """Resume the period's interrupted run, or start a new one."""
    unfinished = s.exec(
        select(PayrollRun).where(PayrollRun.period == period, PayrollRun.status == "running")
    ).first()
    if unfinished is not None:
        return unfinished, True
    row = PayrollRun(
        id=ledger.new_id("run")[:40], period=period, run_on=run_on, created_by=actor.label
    )
    s.add(row)
    s.flush()
    return row, False


def _apply_bank_changes(s: Session, run_on: date, actor: Actor) -> None:
    """Bank-account changes two people confirmed, effective by the payroll date."""
    bank_changes.apply_due_bank_changes(s, run_on, actor)


def _chunk_bounds(engine: Engine, size: int) -> list[tuple[str, str | None]]:
    """Person-id ranges of about `size` receiving people each, read as boundaries only."""
    sql = sa.text(
        "SELECT person_id FROM (SELECT a.person_id, row_number() OVER (ORDER BY a.person_id) AS rn "
        "FROM award a JOIN person p ON p.id = a.person_id WHERE a.revoked_at IS NULL AND p.status = 'receiving') x "
        "WHERE (rn - 1) % :size = 0 ORDER BY person_id"
    )
    with engine.connect() as conn:
        starts = [r[0] for r in conn.execute(sql, {"size": size})]
    return [(lo, starts[i + 1] if i + 1 < len(starts) else None) for i, lo in enumerate(starts)]


def _calendar(policy: Policy, period: str) -> list[tuple[str, int, int, int]]:
    """(month, central minimum, central part of it, county top-up) from the scheme start on:
    the parts of `rules.award.basic_pension` that do not depend on the person."""
    return [
        (
            m,
            policy.central_minimum_fen(m),
            award_rule.central_part_fen(policy, m),
            policy.county_topup_fen(m),
        )
        for m in months.span(months.of(policy.scheme_start), period)
    ]


def _least(s: Session) -> str:
    return "LEAST" if s.get_bind().dialect.name == "postgresql" else "MIN"


def _apply_suspensions(s: Session, policy: Policy, run_row: PayrollRun, actor: Actor) -> int:
    """Lapsed certifications and unpaid children suspend; paid children lift family binding."""
    tag = run_row.id[-8:]
    now = clock.now()
    params = {
        "run_on": run_row.run_on,
        "period": run_row.period,
        "actor": actor.label,
        "now": now,
        "t": True,
        # whether each reason's months are paid back: the rule's flag, not a literal
        "lapse_arrears": ARREARS_BY_REASON["certification_lapsed"],
        "binding_arrears": ARREARS_BY_REASON["family_binding"],
    }
    lapse = _rowcount(
        s.execute(
            sa.text(
                "INSERT INTO suspension (id, person_id, reason, from_month, arrears, note, created_by, created_at) "
                "SELECT 'sus_' || :tag || '_' || p.id, p.id, 'certification_lapsed', :period, :lapse_arrears, "
                "'no valid certification on the payroll date', :actor, :now "
                "FROM person p JOIN award a ON a.person_id = p.id AND a.revoked_at IS NULL "
                # rules.certification.is_valid_on: certified_on <= run_on <= valid_until
                "WHERE p.status = 'receiving' AND NOT EXISTS (SELECT 1 FROM certification c WHERE c.person_id = p.id "
                "AND c.outcome = 'passed' AND c.certified_on <= :run_on AND c.valid_until >= :run_on)"
            ),
            {**params, "tag": "L" + tag},
        )
    )
    year = int(run_row.period[:4])
    binding = 0
    unpaid_child = (
        "EXISTS (SELECT 1 FROM person_parent pp JOIN person c ON c.id = pp.person_id "
        "WHERE pp.parent_id = {parent} AND c.status = 'enrolled' AND c.birth_date >= :youngest_payer "
        "AND NOT EXISTS (SELECT 1 FROM contribution k WHERE k.person_id = c.id AND k.year = {year} AND k.reversed_at IS NULL))"
    )
    if suspension_rule.family_binding_checked(policy, run_row.run_on):
        binding = _rowcount(
            s.execute(
                sa.text(
                    "INSERT INTO suspension (id, person_id, reason, from_month, arrears, note, created_by, created_at) "
                    "SELECT 'sus_' || :tag || '_' || p.id, p.id, 'family_binding', :period, :binding_arrears, "
                    "'a child has not paid for ' || :year_text, :actor, :now "
                    "FROM person p JOIN award a ON a.person_id = p.id AND a.revoked_at IS NULL AND a.family_binding = :t "
                    "WHERE p.status = 'receiving' AND "
                    + unpaid_child.format(parent="p.id", year=":year")
                ),
                {
                    **params,
                    "tag": "F" + tag,
                    "year": year,
                    "year_text": str(year),
                    "youngest_payer": suspension_rule.youngest_payer_born_from(policy, year),
                },
            )
        )
    # lift family binding where every child has now paid for the year it was about
    open_binding = s.execute(
        sa.text(
            "SELECT id, person_id, from_month FROM suspension WHERE reason = 'family_binding' AND lifted_at IS NULL"
        )
    ).all()
    for sus_id, parent, from_month in open_binding:
        y = int(from_month[:4])
        still = s.execute(
            sa.text("SELECT " + unpaid_child.format(parent=":parent", year=":year")),
            {
                "parent": parent,
                "year": y,
                "youngest_payer": suspension_rule.youngest_payer_born_from(policy, y),
            },
        ).scalar()
        if not still and from_month < run_row.period:
            s.execute(
                sa.text(
                    "UPDATE suspension SET lifted_at = :now, lifted_by = :actor, to_month = :to, lift_note = 'the children have paid' WHERE id = :id"
                ),
                {
                    "now": now,
                    "actor": actor.label,
                    "to": months.add(run_row.period, -1),
                    "id": sus_id,
                },
            )
    s.execute(
        sa.text(
            "UPDATE person SET status = 'suspended' WHERE status = 'receiving' AND EXISTS "
            "(SELECT 1 FROM suspension x WHERE x.person_id = person.id AND x.lifted_at IS NULL)"
        )
    )
    s.execute(
        sa.text(
            "UPDATE person SET status = 'receiving' WHERE status = 'suspended' AND NOT EXISTS "
            "(SELECT 1 FROM suspension x WHERE x.person_id = person.id AND x.lifted_at IS NULL)"
        )
    )
    return lapse + binding


def _pay_chunk(
    s: Session,
    policy: Policy,
    run_row: PayrollRun,
    calendar: list[tuple[str, int, int, int]],
    lo: str,
    hi: str | None,
    actor: Actor,
) -> None:
    posting_id = ledger.new_id("pst")
    # every statement of the chunk names the person range, so the (person, month) and
    # (run, person) keys find the chunk's rows without an index on the posting
    in_range = "{t}.person_id >= :lo" + (" AND {t}.person_id < :hi" if hi is not None else "")
    base: dict[str, object] = {
        "run": run_row.id,
        "period": run_row.period,
        "lo": lo,
        "hi": hi,
        "pst": posting_id,
    }
    if not _insert_paid_months(s, policy, calendar, in_range, base):
        return
    on = run_row.run_on
    ledger.post(
        s,
        idempotency_key=f"payroll:{posting_id}",
        operation="payroll",
        on=on,
        transfers=[],
        memo=f"payroll {run_row.period} run {run_row.id}",
        created_by=actor.label,
        posting_id=posting_id,
    )
    _insert_lines_with_draws(s, _least(s), in_range, base)
    _post_bucket_draws(s, in_range, base, on)
    s.execute(
        sa.text(
            "UPDATE award SET settled_through = :period WHERE revoked_at IS NULL AND settled_through < :period AND person_id IN "
            f"(SELECT pl.person_id FROM payroll_line pl WHERE pl.run_id = :run AND {in_range.format(t='pl')} AND pl.posting_id = :pst)"
        ),
        base,
    )
    fund = s.execute(
        sa.text(
            "SELECT COALESCE(SUM(central_fen), 0), COALESCE(SUM(basic_fen - central_fen - county_fen), 0), COALESCE(SUM(county_fen), 0) "
            f"FROM paid_month pm WHERE {in_range.format(t='pm')} AND pm.posting_id = :pst"
        ),
        base,
    ).one()
    pool, from_buckets = s.execute(
        sa.text(
            "SELECT COALESCE(SUM(from_pool_fen), 0), COALESCE(SUM(from_government_fen + from_personal_fen + from_collective_fen + from_other_fen), 0) "
            f"FROM payroll_line pl WHERE pl.run_id = :run AND {in_range.format(t='pl')} AND pl.posting_id = :pst"
        ),
        base,
    ).one()
    fund_transfers = [
        Transfer(source, "payout:pensions", int(amount), code, on)
        for source, amount, code in (
            ("fiscal:central:basic_pension", fund[0], "basic_pension"),
            ("fiscal:provincial:basic_pension", fund[1], "basic_pension"),
            ("fiscal:county:basic_pension", fund[2], "basic_pension"),
            ("fund:pool", pool, "account_pension_pool"),
        )
        if amount
    ]
    # last, and in one go: the fund accounts are shared by every chunk, so they are locked
    # only for the end of each transaction (the bucket draws' credit to the payout account
    # rides along as the total of the person-level transfers above)
    ledger.add_transfers(s, posting_id, on, fund_transfers)
    if from_buckets:
        s.execute(
            sa.text(
                "UPDATE ledger_account SET credits_posted = credits_posted + :amt WHERE code = 'payout:pensions'"
            ),
            {"amt": int(from_buckets)},
        )


def _insert_paid_months(
    s: Session,
    policy: Policy,
    calendar: list[tuple[str, int, int, int]],
    in_range: str,
    base: dict[str, object],
) -> int:
    """Every owed, unpaid month up to the period, of the chunk's receiving people, except those
    with a pending termination: held, and paid as arrears if the report is rejected."""
    cal = " UNION ALL ".join(
        f"SELECT '{m}' AS month, {mn} AS minimum, {cen} AS central, {top} AS topup"
        for m, mn, cen, top in calendar
    )
    # rules.award.long_contribution_bonus_fen, per award row
    years, bonus_fen = policy.long_contribution_base_years, policy.long_contribution_bonus_fen
    bonus = f"CASE WHEN a.contribution_years > {years} THEN (a.contribution_years - {years}) * {bonus_fen} ELSE 0 END"
    return _rowcount(
        s.execute(
            sa.text(
                "INSERT INTO paid_month (person_id, month, run_id, basic_fen, account_fen, central_fen, county_fen, posting_id) "
                f"SELECT a.person_id, cal.month, CAST(:run AS VARCHAR(40)), cal.minimum + cal.topup + {bonus}, a.account_pension_fen, cal.central, "
                f"cal.topup + {bonus}, CAST(:pst AS VARCHAR(40)) "
                f"FROM award a JOIN person p ON p.id = a.person_id JOIN ({cal}) cal "
                "ON cal.month > a.settled_through AND cal.month >= a.first_month AND cal.month <= :period "
                f"WHERE a.revoked_at IS NULL AND p.status = 'receiving' AND {in_range.format(t='a')} "
                "AND NOT EXISTS (SELECT 1 FROM paid_month pm WHERE pm.person_id = a.person_id AND pm.month = cal.month) "
                "AND NOT EXISTS (SELECT 1 FROM suspension x WHERE x.person_id = a.person_id AND x.arrears = :f "
                "AND x.from_month <= cal.month AND (x.to_month IS NULL OR x.to_month >= cal.month)) "
                # a reported death or other pension holds every month until a second person decides
                "AND NOT EXISTS (SELECT 1 FROM termination tm WHERE tm.person_id = a.person_id AND tm.status = 'pending')"
            ),
            {**base, "f": False},
        )
    )


def _insert_lines_with_draws(
    s: Session, least: str, in_range: str, base: dict[str, object]
) -> None:
    """One line per person paid: the period, the arrears, and where the account pension comes
    from: its government part from the government bucket, the rest from personal, then
    collective, then other; what the buckets cannot cover, from the pool."""
    paid = (
        "SELECT pm.person_id, COUNT(*) AS k, "
        "SUM(CASE WHEN pm.month = :period THEN pm.basic_fen ELSE 0 END) AS basic, "
        "SUM(CASE WHEN pm.month = :period THEN pm.account_fen ELSE 0 END) AS account, "
        "SUM(CASE WHEN pm.month <> :period THEN pm.basic_fen + pm.account_fen ELSE 0 END) AS arrears, "
        "SUM(pm.basic_fen + pm.account_fen) AS total, "
        "COUNT(*) * MAX(a.government_part_fen) AS gneed, SUM(pm.account_fen) - COUNT(*) * MAX(a.government_part_fen) AS nneed, "
        "MAX(p.village_code) AS village "
        "FROM paid_month pm JOIN award a ON a.person_id = pm.person_id AND a.revoked_at IS NULL JOIN person p ON p.id = pm.person_id "
        f"WHERE {in_range.format(t='pm')} AND pm.posting_id = :pst GROUP BY pm.person_id"
    )
    balance = (
        "SUM(CASE WHEN la.bucket = '{b}' THEN la.credits_posted - la.debits_posted ELSE 0 END)"
    )
    cols = "n.person_id, n.k, n.basic, n.account, n.arrears, n.total, n.gneed, n.nneed, n.village"
    with_bal = (
        f"SELECT {cols}, {balance.format(b='government')} AS gb, {balance.format(b='personal')} AS pb, "
        f"{balance.format(b='collective')} AS cb, {balance.format(b='other')} AS ob "
        f"FROM ({paid}) n JOIN ledger_account la ON la.person_id = n.person_id GROUP BY {cols}"
    )
    d3 = _draws(least, with_bal)
    s.execute(
        sa.text(
            "INSERT INTO payroll_line (run_id, person_id, posting_id, village_code, months, basic_fen, account_fen, arrears_fen, total_fen, "
            "from_government_fen, from_personal_fen, from_collective_fen, from_other_fen, from_pool_fen, bank_account_enc, status) "
            "SELECT CAST(:run AS VARCHAR(40)), z.person_id, CAST(:pst AS VARCHAR(40)), z.village, z.k, z.basic, z.account, z.arrears, z.total, "
            f"z.g, z.pd, z.cd, z.od, z.gneed + z.nneed - z.g - z.pd - z.cd - z.od, a.bank_account_enc, 'paid' FROM ({d3}) z "
            # the award's sealed account as is: same bytes, same person id as associated data
            "JOIN award a ON a.person_id = z.person_id AND a.revoked_at IS NULL"
        ),
        base,
    )


# per bucket: the alias of its balance and of what a line draws from it (rules.payment.draw)
BALANCE_ALIAS = {"government": "gb", "personal": "pb", "collective": "cb", "other": "ob"}
DRAW_ALIAS = {"government": "g", "personal": "pd", "collective": "cd", "other": "od"}


def _draws(least: str, with_balances: str) -> str:
    """rules.payment.draw as SQL: the government part from the government bucket, then the rest
    from each bucket of `DRAW_ORDER` in turn, each taking what is left up to its balance."""
    sql = f"SELECT w.*, {least}(w.gneed, w.gb) AS g FROM ({with_balances}) w"
    taken: list[str] = []
    for i, bucket in enumerate(payment_rule.DRAW_ORDER):
        left = " - ".join([f"x{i}.nneed", *(f"x{i}.{DRAW_ALIAS[b]}" for b in taken)])
        sql = (
            f"SELECT x{i}.*, {least}({left}, x{i}.{BALANCE_ALIAS[bucket]}) AS {DRAW_ALIAS[bucket]} "
            f"FROM ({sql}) x{i}"
        )
        taken.append(bucket)
    return sql


# what a bucket account gives to a line, as SQL over payroll_line pl and ledger_account la
DRAWN = (
    "CASE la.bucket WHEN 'government' THEN pl.from_government_fen WHEN 'personal' THEN pl.from_personal_fen "
    "WHEN 'collective' THEN pl.from_collective_fen ELSE pl.from_other_fen END"
)


def _post_bucket_draws(s: Session, in_range: str, base: dict[str, object], on: date) -> None:
    payout = ledger.account_ids(s, ["payout:pensions"])["payout:pensions"]
    lines = f"pl.run_id = :run AND {in_range.format(t='pl')} AND pl.posting_id = :pst"
    s.execute(
        sa.text(
            'INSERT INTO ledger_transfer (posting_id, debit_account_id, credit_account_id, amount_fen, "on", code) '
            f"SELECT CAST(:pst AS VARCHAR(40)), la.id, :payout, {DRAWN}, :on, 'account_pension' FROM payroll_line pl "
            f"JOIN ledger_account la ON la.person_id = pl.person_id WHERE {lines} AND {DRAWN} > 0"
        ),
        {**base, "payout": payout, "on": on},
    )
    s.execute(
        sa.text(
            f"UPDATE ledger_account AS la SET debits_posted = la.debits_posted + {DRAWN} FROM payroll_line pl "
            f"WHERE {lines} AND la.person_id = pl.person_id AND {DRAWN} > 0"
        ),
        base,
    )


# --- releasing a run: four eyes -------------------------------------------------------------


def approve(s: Session, run_id: str, actor: Actor) -> PayrollRun:
    """A second, different admin releases a completed run: only then is its bank file
    available. The run's postings are made when it is prepared; the release is the order to
    the bank, which is what cannot be taken back."""
    row = s.exec(select(PayrollRun).where(PayrollRun.id == run_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no payroll run {run_id}")
    if row.approved_at is not None:
        raise Conflict(
            f"payroll run {run_id} was approved already by {row.approved_by}", code="not_pending"
        )
    if row.status != "completed":
        raise Conflict(
            f"payroll run {run_id} is still {row.status}: run the period again to finish it first",
            code="payroll_not_completed",
        )
    require_second_person(
        row.created_by,
        actor,
        "this payroll run",
        "four eyes: a second, different admin must approve the payroll run that you prepared",
    )
    row.approved_by, row.approved_at = actor.label, clock.now()
    s.add(row)
    s.flush()
    return row


def require_approved(s: Session, run_id: str) -> PayrollRun:
    row = get_run(s, run_id)
    if row.approved_at is None:
        raise Conflict(
            f"payroll run {run_id} has not been approved by a second admin; no bank file before",
            code="payroll_not_approved",
        )
    return row


# --- reading runs -----------------------------------------------------------------------------


def get_run(s: Session, run_id: str) -> PayrollRun:
    row = s.get(PayrollRun, run_id)
    if row is None:
        raise NotFound(f"no payroll run {run_id}")
    return row


def lines(s: Session, run_id: str) -> list[PayrollLine]:
    get_run(s, run_id)
    return list(
        s.exec(
            select(PayrollLine)
            .where(PayrollLine.run_id == run_id)
            .order_by(PayrollLine.village_code, PayrollLine.person_id)
        ).all()
    )


def run_lines(s: Session, run_id: str) -> PayrollLinesOut:
    """A run and whom it paid, village by village: GET /payroll-runs/{run_id}/lines."""
    run = get_run(s, run_id)
    return PayrollLinesOut(
        run_id=run.id,
        period=run.period,
        run_on=run.run_on.isoformat(),
        status=run.status,
        approved_by=run.approved_by,
        paid=run.paid,
        total_fen=run.total_fen,
        lines=[
            PayrollLineOut(
                person_id=ln.person_id,
                village_code=ln.village_code,
                months=ln.months,
                basic_fen=ln.basic_fen,
                account_fen=ln.account_fen,
                arrears_fen=ln.arrears_fen,
                total_fen=ln.total_fen,
                from_buckets_fen=ln.from_government_fen
                + ln.from_personal_fen
                + ln.from_collective_fen
                + ln.from_other_fen,
                from_pool_fen=ln.from_pool_fen,
                status=ln.status,
            )
            for ln in lines(s, run_id)
        ],
    )


def payments_of(s: Session, person_id: str, limit: int) -> list[dict[str, object]]:
    """The person's payroll lines, newest first."""
    line = PayrollLine.__table__.c
    rows = s.execute(
        sa.select(
            col(PayrollRun.period),
            col(PayrollRun.run_on).label("paid_on"),
            line.months,
            line.basic_fen,
            line.account_fen,
            line.arrears_fen,
            line.total_fen,
            line.status,
        )
        .join(PayrollRun, col(PayrollRun.id) == line.run_id)
        .where(line.person_id == person_id)
        .order_by(col(PayrollRun.period).desc(), col(PayrollRun.run_on).desc())
        .limit(limit)
    )
    return [{**r._asdict(), "paid_on": r.paid_on.isoformat()} for r in rows]


# The bank file is written by services/bank_files.py in the agency bank's layout.
