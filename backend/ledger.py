"""The double-entry ledger, in the spirit of TigerBeetle.

* A transfer moves a positive amount of fen from a debit account to a credit account and is
  never changed or deleted; a correction is a new posting that reverses an old one.
* A posting groups the transfers of one business operation; it commits whole or not at all,
  and its idempotency key makes a repeated request post nothing.
* Each account keeps running totals (debits_posted, credits_posted) updated in the same
  transaction; `check()` recomputes them from the transfers. A person's bucket is credit-
  normal and may never go negative (enforced by a conditional update and a CHECK).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from backend.errors import Conflict
from backend.models import BUCKETS, LedgerAccount, LedgerPosting, LedgerTransfer

GOVERNMENT_LEVELS = ("central", "provincial", "prefecture", "county")

# Accounts outside the person buckets; a county's ledger starts with all of them.
FUND_ACCOUNTS: dict[str, str] = {
    "source:personal": "source",  # residents' own payments
    "source:collective": "source",  # village collectives
    "source:other": "source",  # other organisations and persons
    "source:old_scheme": "source",  # balances carried over from the old rural scheme (老农保)
    "source:transfer_in": "source",  # balances transferred in from another county (转移接续)
    **{f"fiscal:{lvl}:subsidy": "source" for lvl in GOVERNMENT_LEVELS},  # contribution subsidies
    **{f"fiscal:{lvl}:on_behalf": "source" for lvl in GOVERNMENT_LEVELS},  # paid on behalf (代缴)
    **{
        f"fiscal:{lvl}:basic_pension": "source" for lvl in GOVERNMENT_LEVELS
    },  # basic pension funding
    "source:repayments": "source",  # overpayments repaid by heirs or pensioners
    "fiscal:county:funeral_grant": "source",
    "fund:interest": "source",  # interest earned by the fund, credited to accounts
    "fund:pool": "fund",  # pooled fund: pays account pensions of exhausted accounts
    "payout:pensions": "fund",  # paid out to pensioners' bank accounts
    "payable:heirs": "fund",  # owed to heirs at death settlement
    "payout:heirs": "fund",  # paid out to heirs' bank accounts (services/heirs.py)
    "payout:refunds": "fund",  # cancellation refunds paid to members (services/refunds.py)
    "payout:transfers": "fund",  # balances sent to another county (services/transfers.py)
    "returned:payments": "fund",  # returned by the bank, owed until re-issued (bank_returns)
    "receivable:recoveries": "fund",  # overpayments to recover
}


def bucket_code(person_id: str, bucket: str) -> str:
    return f"person:{person_id}:{bucket}"


@dataclass(frozen=True)
class Transfer:
    debit: str  # account code
    credit: str
    amount_fen: int
    code: str  # what kind of movement: contribution, subsidy, interest, reversal, ...
    on: date | None = None  # value date; defaults to the posting's date


@dataclass
class PostResult:
    posting_id: str
    created: bool  # False when the idempotency key had already posted


class InsufficientBalance(Conflict):
    code = "insufficient_balance"


@dataclass
class CheckReport:
    accounts: int = 0
    transfers: int = 0
    total_debits_fen: int = 0
    total_credits_fen: int = 0
    breaches: list[str] = field(default_factory=list)
    # money out (services/bank_returns.py): returned by the bank, and re-issued from it
    returned_fen: int = 0
    reissued_fen: int = 0
    to_estate_fen: int = 0  # returned to a deceased holder: settled to heirs / recovery

    @property
    def ok(self) -> bool:
        return not self.breaches


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def ensure_fund_accounts(session: Session) -> None:
    _insert_accounts_if_missing(
        session,
        [
            {"code": code, "kind": kind, "no_negative": False}
            for code, kind in FUND_ACCOUNTS.items()
        ],
    )


def open_person_accounts(session: Session, person_id: str) -> None:
    _insert_accounts_if_missing(
        session,
        [
            {
                "code": bucket_code(person_id, b),
                "kind": "bucket",
                "person_id": person_id,
                "bucket": b,
                "no_negative": True,
            }
            for b in BUCKETS
        ],
    )


def _insert_accounts_if_missing(session: Session, rows: list[dict[str, object]]) -> None:
    table = LedgerAccount.__table__
    dialect = session.get_bind().dialect.name
    for row in rows:
        row.setdefault("person_id", None)
        row.setdefault("bucket", None)
        row.update(debits_posted=0, credits_posted=0)
    stmt: sa.Executable
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(rows).on_conflict_do_nothing(index_elements=["code"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(rows).on_conflict_do_nothing(index_elements=["code"])
    session.execute(stmt)


def account_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    codes = list(set(codes))
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.id).where(col(LedgerAccount.code).in_(codes))
    ).all()
    found = {code: id_ for code, id_ in rows}
    missing = [c for c in codes if c not in found]
    if missing:
        raise LookupError(f"unknown ledger accounts: {missing}")
    return found


def find_posting(session: Session, idempotency_key: str) -> LedgerPosting | None:
    return session.exec(
        select(LedgerPosting).where(LedgerPosting.idempotency_key == idempotency_key)
    ).first()


def post(
    session: Session,
    *,
    idempotency_key: str,
    operation: str,
    on: date,
    transfers: Sequence[Transfer],
    person_id: str | None = None,
    memo: str = "",
    created_by: str = "",
    reverses: str | None = None,
    posting_id: str | None = None,
) -> PostResult:
    """Post the transfers as one posting, or nothing if the key has already posted.

    `posting_id` lets a set-based operation tag its rows before the posting exists."""
    existing = find_posting(session, idempotency_key)
    if existing is not None:
        return PostResult(existing.id, created=False)
    _validate(transfers)
    posting = LedgerPosting(
        id=posting_id or new_id("pst"),
        idempotency_key=idempotency_key,
        operation=operation,
        on=on,
        person_id=person_id,
        memo=memo,
        created_by=created_by,
        reverses=reverses,
    )
    session.add(posting)
    session.flush()  # a concurrent twin with the same key fails here, before any balance moves
    add_transfers(session, posting.id, on, transfers)
    return PostResult(posting.id, created=True)


def add_transfers(
    session: Session, posting_id: str, on: date, transfers: Sequence[Transfer]
) -> None:
    """Append transfers to a posting opened in this transaction, and move the balances.

    A set-based operation opens its posting first, writes its per-person transfers with SQL,
    and adds the fund-level ones last, so that the busiest accounts stay locked briefly."""
    if not transfers:
        return
    _validate(transfers)
    ids = account_ids(session, [c for t in transfers for c in (t.debit, t.credit)])
    session.execute(
        sa.insert(LedgerTransfer.__table__),
        [
            {
                "posting_id": posting_id,
                "debit_account_id": ids[t.debit],
                "credit_account_id": ids[t.credit],
                "amount_fen": t.amount_fen,
                "on": t.on or on,
                "code": t.code,
            }
            for t in transfers
        ],
    )
    _apply_totals(session, transfers, ids)


def _validate(transfers: Sequence[Transfer]) -> None:
    for t in transfers:
        if not isinstance(t.amount_fen, int) or t.amount_fen <= 0:
            raise ValueError(
                f"transfer amount must be a positive integer of fen, got {t.amount_fen!r}"
            )
        if t.debit == t.credit:
            raise ValueError("a transfer needs two different accounts")


def _apply_totals(session: Session, transfers: Sequence[Transfer], ids: dict[str, int]) -> None:
    debits: dict[int, int] = defaultdict(int)
    credits: dict[int, int] = defaultdict(int)
    for t in transfers:
        debits[ids[t.debit]] += t.amount_fen
        credits[ids[t.credit]] += t.amount_fen
    acc = LedgerAccount.__table__.c
    # fixed lock order (by id) so that concurrent postings cannot deadlock
    for account_id in sorted(set(debits) | set(credits)):
        d, c = debits.get(account_id, 0), credits.get(account_id, 0)
        stmt = (
            sa.update(LedgerAccount.__table__)
            .where(acc.id == account_id)
            .where(
                sa.or_(
                    acc.no_negative.is_(False), acc.credits_posted + c - acc.debits_posted - d >= 0
                )
            )
            .values(debits_posted=acc.debits_posted + d, credits_posted=acc.credits_posted + c)
        )
        # an UPDATE's result is a CursorResult (Session.execute is typed as returning Result)
        if cast(sa.CursorResult[Any], session.execute(stmt)).rowcount != 1:
            code = session.execute(sa.select(acc.code).where(acc.id == account_id)).scalar_one()
            raise InsufficientBalance(f"account {code} would go negative; nothing was posted")


def reverse(
    session: Session,
    posting_id: str,
    *,
    on: date,
    idempotency_key: str,
    memo: str = "",
    created_by: str = "",
) -> PostResult:
    """Post the mirror image of a posting: the correction that leaves the original intact."""
    original = session.get(LedgerPosting, posting_id)
    if original is None:
        raise LookupError(f"no posting {posting_id}")
    if (
        find_posting(session, idempotency_key) is None
        and session.exec(select(LedgerPosting).where(LedgerPosting.reverses == posting_id)).first()
    ):
        raise Conflict(f"posting {posting_id} has already been reversed")
    t = LedgerTransfer.__table__.c
    debit, credit = LedgerAccount.__table__.alias("d"), LedgerAccount.__table__.alias("c")
    rows = session.execute(
        sa.select(t.amount_fen, t.code, debit.c.code.label("debit"), credit.c.code.label("credit"))
        .join(debit, debit.c.id == t.debit_account_id)
        .join(credit, credit.c.id == t.credit_account_id)
        .where(t.posting_id == posting_id)
        .order_by(t.id)
    ).all()
    mirrored = [
        Transfer(debit=r.credit, credit=r.debit, amount_fen=r.amount_fen, code=f"reversal:{r.code}")
        for r in rows
    ]
    return post(
        session,
        idempotency_key=idempotency_key,
        operation=f"reversal:{original.operation}",
        on=on,
        transfers=mirrored,
        person_id=original.person_id,
        memo=memo,
        created_by=created_by,
        reverses=posting_id,
    )


def person_buckets(session: Session, person_id: str) -> dict[str, int]:
    rows = session.exec(select(LedgerAccount).where(LedgerAccount.person_id == person_id)).all()
    out = dict.fromkeys(BUCKETS, 0)
    for a in rows:
        out[a.bucket or ""] = a.credits_posted - a.debits_posted
    return out


def check(session: Session) -> CheckReport:
    """Verify every invariant from the transfers up; a breach names what is wrong."""
    report = CheckReport()
    t = LedgerTransfer.__table__.c
    a = LedgerAccount.__table__.c
    report.transfers = session.execute(
        sa.select(sa.func.count()).select_from(LedgerTransfer.__table__)
    ).scalar_one()
    bad = session.execute(
        sa.select(sa.func.count()).where(
            sa.or_(t.amount_fen <= 0, t.debit_account_id == t.credit_account_id)
        )
    ).scalar_one()
    if bad:
        report.breaches.append(
            f"{bad} transfers with a non-positive amount or one account on both sides"
        )
    deb = dict(
        session.execute(
            sa.select(t.debit_account_id, sa.func.sum(t.amount_fen)).group_by(t.debit_account_id)
        ).all()
    )
    cred = dict(
        session.execute(
            sa.select(t.credit_account_id, sa.func.sum(t.amount_fen)).group_by(t.credit_account_id)
        ).all()
    )
    for row in session.execute(
        sa.select(a.id, a.code, a.no_negative, a.debits_posted, a.credits_posted)
    ):
        report.accounts += 1
        d, c = int(deb.get(row.id, 0)), int(cred.get(row.id, 0))
        report.total_debits_fen += row.debits_posted
        report.total_credits_fen += row.credits_posted
        if (d, c) != (row.debits_posted, row.credits_posted):
            report.breaches.append(
                f"{row.code}: kept totals debits={row.debits_posted} credits={row.credits_posted} "
                f"differ from its transfers debits={d} credits={c}"
            )
        if row.no_negative and c < d:
            report.breaches.append(f"{row.code} is negative: {c - d} fen")
    if report.total_debits_fen != report.total_credits_fen:
        report.breaches.append(
            f"total debits {report.total_debits_fen} != total credits {report.total_credits_fen}"
        )
    orphans = session.execute(
        sa.select(sa.func.count())
        .select_from(LedgerPosting.__table__)
        .where(~sa.exists().where(t.posting_id == LedgerPosting.__table__.c.id))
    ).scalar_one()
    if orphans:
        report.breaches.append(f"{orphans} postings without transfers")
    _check_money_out(session, report)
    return report


def _check_money_out(session: Session, report: CheckReport) -> None:
    """`returned:payments` holds exactly what the bank returned and was neither re-issued nor
    settled to a deceased holder's estate: its balance is recomputed from the bank-file parts,
    which say what was returned, re-issued and settled."""
    parts = session.execute(
        sa.text(
            "SELECT COALESCE(SUM(CASE WHEN status = 'returned' THEN amount_fen ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN source = 'reissue' THEN amount_fen ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN estate_posting_id IS NOT NULL THEN amount_fen ELSE 0 END), 0) "
            "FROM disbursement_part"
        )
    ).one()
    report.returned_fen, report.reissued_fen = int(parts[0]), int(parts[1])
    report.to_estate_fen = int(parts[2])
    row = session.execute(
        sa.select(col(LedgerAccount.credits_posted), col(LedgerAccount.debits_posted)).where(
            col(LedgerAccount.code) == "returned:payments"
        )
    ).first()
    held = (row[0] - row[1]) if row else 0
    if held != report.returned_fen - report.reissued_fen - report.to_estate_fen:
        report.breaches.append(
            f"returned:payments holds {held} fen; the bank returned {report.returned_fen}, "
            f"{report.reissued_fen} was re-issued and {report.to_estate_fen} settled to "
            "deceased holders' estates"
        )
