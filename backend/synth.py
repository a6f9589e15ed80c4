"""Synthetic pensioners in bulk, for benchmarks and crash tests (set-based, fast).

People get ids `<prefix><index>` so that SQL can derive varied amounts from the index; their
ID numbers are valid (check character included) and encrypted like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backend import clock, ledger, months
from backend.crypto import Keyring
from backend.db import session_scope
from backend.idnumber import check_char
from backend.models import BUCKETS

BATCH = 5_000


def synthetic_id_number(i: int) -> str:
    born = date(1950 + i % 15, 1 + i % 12, 1 + i % 28)
    first17 = f"5{(i // 1000) % 100000:05d}{born:%Y%m%d}{i % 1000:03d}"
    return first17 + check_char(first17)


def create_pensioners(
    engine: Engine,
    keyring: Keyring,
    count: int,
    *,
    period: str,
    prefix: str = "pS",
    villages: int = 50,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """`count` awarded pensioners with accounts, certified, paid through the month before `period`."""
    settled = months.add(period, -1)
    now = clock.now()
    width = len(str(count))
    with session_scope(engine) as s:
        ledger.ensure_fund_accounts(s)
        s.execute(
            sa.text(
                "INSERT INTO village (code, name, township) SELECT CAST(:code AS VARCHAR(24)), CAST(:name AS VARCHAR(100)), CAST(:town AS VARCHAR(100)) WHERE NOT EXISTS (SELECT 1 FROM village WHERE code = CAST(:code AS VARCHAR(24)))"
            ),
            [
                {"code": f"VS{v:03d}", "name": f"合成村{v}", "town": "合成镇"}
                for v in range(villages)
            ],
        )
    for start in range(0, count, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, count)):
            pid = f"{prefix}{i:0{width}d}"
            number = synthetic_id_number(i)
            rows.append(
                {
                    "id": pid,
                    "id_hash": keyring.lookup_hash(number),
                    "enc": keyring.encrypt_text(number, pid),
                    "name": f"合成{i}",
                    "birth": date(1950 + i % 15, 1 + i % 12, 1 + i % 28),
                    "gender": "male" if i % 2 else "female",
                    "village": f"VS{i % villages:03d}",
                    "now": now,
                }
            )
        with session_scope(engine) as s:
            s.execute(
                sa.text(
                    "INSERT INTO person (id, id_hash, id_number_enc, name, birth_date, gender, village_code, student, urban_employee_pension, "
                    "severely_disabled, homebound, enrolled_on, status, created_at, updated_at) VALUES (:id, :id_hash, :enc, :name, :birth, :gender, "
                    ":village, FALSE, FALSE, FALSE, FALSE, '2010-07-01', 'receiving', :now, :now)"
                ),
                rows,
            )
        if progress:
            progress(min(start + BATCH, count), count)
    _derive_accounts_awards(engine, prefix, period, settled, now)


def _derive_accounts_awards(
    engine: Engine, prefix: str, period: str, settled: str, now: datetime
) -> None:
    idx = f"CAST(SUBSTR(p.id, {len(prefix) + 1}) AS INTEGER)"
    personal = f"(({idx} % 97) + 1) * 1390"
    government = f"(({idx} % 7) * 300)"
    like = {"pfx": f"{prefix}%", "now": now}
    with session_scope(engine) as s:
        bucket_values = " UNION ALL ".join(f"SELECT '{b}' AS bucket" for b in BUCKETS)
        s.execute(
            sa.text(
                "INSERT INTO ledger_account (code, kind, person_id, bucket, no_negative, debits_posted, credits_posted) "
                f"SELECT 'person:' || p.id || ':' || b.bucket, 'bucket', p.id, b.bucket, TRUE, 0, "
                f"CASE b.bucket WHEN 'personal' THEN {personal} WHEN 'government' THEN {government} ELSE 0 END "
                f"FROM person p CROSS JOIN ({bucket_values}) b WHERE p.id LIKE :pfx"
            ),
            like,
        )
        posting = ledger.new_id("pst")
        s.execute(
            sa.text(
                "INSERT INTO ledger_posting (id, idempotency_key, operation, \"on\", memo, created_by, created_at) VALUES (:id, :key, 'old_scheme_opening', '2015-01-01', 'synthetic county', 'synth', :now)"
            ),
            {"id": posting, "key": f"synth:{posting}", "now": now},
        )
        src = ledger.account_ids(s, ["source:old_scheme"])["source:old_scheme"]
        s.execute(
            sa.text(
                'INSERT INTO ledger_transfer (posting_id, debit_account_id, credit_account_id, amount_fen, "on", code) '
                "SELECT CAST(:pst AS VARCHAR(40)), :src, a.id, a.credits_posted, '2015-01-01', 'old_scheme' FROM ledger_account a "
                "WHERE a.person_id LIKE :pfx AND a.kind = 'bucket' AND a.credits_posted > 0"
            ),
            {**like, "pst": posting, "src": src},
        )
        s.execute(
            sa.text(
                "UPDATE ledger_account SET debits_posted = debits_posted + (SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_transfer WHERE posting_id = :pst) WHERE id = :src"
            ),
            {"pst": posting, "src": src},
        )
        total = f"({personal} + {government})"
        pension = f"((2 * {total} + 139) / 278)"
        s.execute(
            sa.text(
                "INSERT INTO award (id, person_id, awarded_on, first_month, eligibility_group, family_binding, contribution_years, account_pension_fen, "
                "account_total_at_award_fen, government_at_award_fen, government_part_fen, settled_through, created_by, created_at) "
                f"SELECT 'awd_' || p.id, p.id, '2015-01-01', '2015-01', 'young', FALSE, 15 + {idx} % 5, {pension}, {total}, {government}, "
                f"(2 * {pension} * {government} + {total}) / (2 * {total}), :settled, 'synth', :now FROM person p WHERE p.id LIKE :pfx"
            ),
            {**like, "settled": settled},
        )
        s.execute(
            sa.text(
                "INSERT INTO certification (id, person_id, channel, outcome, certified_on, valid_until, actor, reasons, evidence, created_at) "
                "SELECT 'cer_' || p.id, p.id, 'counter', 'passed', :on, :until, 'synth', '[]', 'synthetic', :now FROM person p WHERE p.id LIKE :pfx"
            ),
            {
                **like,
                "on": months.first_day(months.add(period, -2)),
                "until": months.first_day(months.add(period, 10)),
            },
        )
