"""The monthly detail statement (每月明细表): one payroll run, village by village."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from backend.crypto import Keyring
from backend.reports.common import in_clause, masked_id, scoped_villages
from backend.reports.model import Column, Report, Section
from backend.services import bank_changes, payroll

COLUMNS = [
    Column("seq", "序号 / No.", "int", 0.5),
    Column("name", "姓名 / Name", "text", 1.0),
    Column("id_number", "身份证号 / ID number", "text", 2.0),
    Column("months", "月数 / Months", "int", 0.6),
    Column("basic_fen", "基础养老金 / Basic", "fen", 1.1),
    Column("account_fen", "个人账户养老金 / Account", "fen", 1.2),
    Column("arrears_fen", "补发 / Arrears", "fen", 1.0),
    Column("total_fen", "合计 / Total", "fen", 1.1),
    Column("bank_account", "银行账号 / Bank account", "text", 1.6),
]
MONEY = ("basic_fen", "account_fen", "arrears_fen", "total_fen")


def ledger_paid_fen(s: Session, run_id: str) -> int:
    """What the ledger says the run paid out: credits to payout:pensions in the run's postings."""
    return int(
        s.execute(
            sa.text(
                "SELECT COALESCE(SUM(t.amount_fen), 0) FROM ledger_transfer t JOIN ledger_account c ON c.id = t.credit_account_id "
                "WHERE c.code = 'payout:pensions' AND t.posting_id IN (SELECT DISTINCT posting_id FROM payroll_line WHERE run_id = :run)"
            ),
            {"run": run_id},
        ).scalar_one()
    )


def report(
    s: Session,
    keyring: Keyring,
    run_id: str,
    village: str | None = None,
    allowed: tuple[str, ...] | None = None,
) -> Report:
    run = payroll.get_run(s, run_id)
    scope = scoped_villages(s, village, allowed)
    codes, params = in_clause("v", list(scope))
    rows = s.execute(
        sa.text(
            "SELECT l.person_id, l.village_code, l.months, l.basic_fen, l.account_fen, l.arrears_fen, l.total_fen, l.bank_account_enc, "
            "p.name, p.id_number_enc FROM payroll_line l JOIN person p ON p.id = l.person_id "
            f"WHERE l.run_id = :run AND l.village_code IN ({codes}) ORDER BY l.village_code, l.person_id"
        ),
        {"run": run_id, **params},
    ).all()
    sections: dict[str, Section] = {}
    for r in rows:
        sec = sections.setdefault(
            r.village_code, Section(f"{scope[r.village_code]}（{r.village_code}）", COLUMNS)
        )
        sec.rows.append(
            {
                "seq": len(sec.rows) + 1,
                "person_id": r.person_id,
                "name": r.name,
                "id_number": masked_id(keyring, r.person_id, r.id_number_enc),
                "months": int(r.months),
                **{k: int(getattr(r, k)) for k in MONEY},
                "bank_account": _mask_bank(
                    bank_changes.opened(keyring, r.person_id, r.bank_account_enc)
                ),
            }
        )
    for sec in sections.values():
        sec.totals = {
            "name": "村合计 / Village total",
            "months": sec.total_of("months"),
            **{k: sec.total_of(k) for k in MONEY},
        }
    total = sum(sec.total_of("total_fen") for sec in sections.values())
    whole_county = village is None and allowed is None
    ledger_fen = ledger_paid_fen(s, run_id)
    reconciled = total == run.total_fen == ledger_fen if whole_county else None
    county_totals = Section(
        "全县合计 / County total" if whole_county else "合计 / Total",
        [
            Column("village", "村 / Village", "text", 2),
            Column("people", "人数 / People", "int"),
            *[c for c in COLUMNS if c.key in MONEY],
        ],
    )
    for code, sec in sections.items():
        county_totals.rows.append(
            {
                "village": f"{scope[code]}（{code}）",
                "people": len(sec.rows),
                **{k: sec.total_of(k) for k in MONEY},
            }
        )
    county_totals.totals = {
        "village": "合计 / Total",
        "people": county_totals.total_of("people"),
        **{k: county_totals.total_of(k) for k in MONEY},
    }
    notes = (
        [
            f"核对 Reconciliation: 明细合计 {total} 分，本次发放记录 {run.total_fen} 分，总账支付 {ledger_fen} 分: {'一致 OK' if reconciled else '不一致 MISMATCH'}"
        ]
        if whole_county
        else []
    )
    return Report(
        kind="monthly-statement",
        title=f"城乡居民养老保险待遇发放明细表 {run.period} / Monthly detail statement {run.period}",
        facts=[
            ("发放批次 Run", run.id),
            ("发放日期 Payroll date", run.run_on.isoformat()),
            ("人数 People", str(len(rows))),
        ],
        sections=[county_totals, *sections.values()],
        notes=notes,
        summary={
            "run_id": run.id,
            "period": run.period,
            "people": len(rows),
            "total_fen": total,
            "run_total_fen": run.total_fen,
            "ledger_paid_fen": ledger_fen,
            "reconciled": reconciled,
        },
        landscape=True,
    )


def _mask_bank(account: str) -> str:
    account = (account or "").replace(" ", "")
    if not account:
        return "社保卡 / SSC"
    return "*" * max(len(account) - 4, 0) + account[-4:]
