"""Fund income and expenditure (基金收支) for a year, straight from the ledger.

The ledger's accounts fall in three classes: sources of money (`source:*`, `fiscal:*`,
`fund:interest`), outflows (`payout:*`, `payable:*`) and what the fund holds (the person
buckets, `fund:pool`, `receivable:recoveries`). Because every transfer balances,
    balance held at year end = balance at year start + net debits of sources (income)
                               - net credits of outflows (expenditure)
exactly, whatever the transfer. Income is therefore net of corrections (a reversed
contribution, interest reversed at death, overpaid basic pension charged back to the level
that paid it), and the closing balance equals the ledger's own totals.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from backend.ledger import GOVERNMENT_LEVELS
from backend.reports.common import LEVEL_ZH, year_bounds
from backend.reports.model import Column, Report, Section

# returned:payments is money the bank sent back, held until re-issued (docs/payments.md)
HELD_FUND_ACCOUNTS = ("fund:pool", "receivable:recoveries", "returned:payments")
_HELD_IN = ", ".join(f"'{c}'" for c in HELD_FUND_ACCOUNTS)
OUTFLOW_PREFIXES = ("payout:", "payable:")

INCOME_LABELS: dict[str, str] = {
    "personal": "个人缴费 / Personal contributions",
    "collective": "集体补助 / Collective subsidies",
    "other": "其他资助 / Other subsidies",
    **{
        f"subsidy:{lv}": f"政府缴费补贴（{LEVEL_ZH[lv]}）/ Contribution subsidy, {lv}"
        for lv in GOVERNMENT_LEVELS
    },
    **{
        f"on_behalf:{lv}": f"政府代缴（{LEVEL_ZH[lv]}）/ Paid on behalf, {lv}"
        for lv in GOVERNMENT_LEVELS
    },
    **{
        f"basic_pension:{lv}": f"基础养老金财政补助（{LEVEL_ZH[lv]}）/ Basic pension funding, {lv}"
        for lv in GOVERNMENT_LEVELS
    },
    "funeral_grant": "丧葬补助资金 / Funeral grant funding",
    "interest": "利息收入 / Interest",
    "old_scheme": "老农保转入 / Old-scheme balances",
    "transfer_in": "转移接续转入 / Transferred in from another county",
    "repayments": "追回冒领款 / Overpayments repaid",
}
EXPENDITURE_LABELS: dict[str, str] = {
    **{
        f"basic_pension:{lv}": f"基础养老金支出（{LEVEL_ZH[lv]}）/ Basic pension, {lv}"
        for lv in GOVERNMENT_LEVELS
    },
    "account_pension": "个人账户养老金支出 / Account pension",
    "inheritance": "个人账户继承支付 / Inheritance refunds",
    "funeral_grant": "丧葬补助金 / Funeral grants",
    "returned": "银行退回（减）/ Returned by the bank (less)",
    "reissued": "退回重发 / Re-issued after a return",
    "returned_to_heirs": "退回转付继承人 / Returned, owed to a deceased holder's heirs",
    "cancellation_refund": "注销退费 / Cancellation refunds",
    "transfer_out": "转移支出 / Transferred to another county",
}
# lines shown even when zero: what every county reports (DOMAIN.md's 2010 example)
ALWAYS = {
    "personal",
    "collective",
    "other",
    "interest",
    "old_scheme",
    "account_pension",
    "inheritance",
    "funeral_grant",
} | {f"{k}:{lv}" for k in ("subsidy", "basic_pension") for lv in GOVERNMENT_LEVELS}


def account_class(code: str, kind: str) -> str:
    if kind == "bucket" or code in HELD_FUND_ACCOUNTS:
        return "held"
    if code.startswith(OUTFLOW_PREFIXES):
        return "outflow"
    return "source"


def _source_key(code: str) -> str:
    if code.startswith("source:"):
        return code.split(":", 1)[1]
    if code.startswith("fiscal:"):
        _, level, what = code.split(":")
        return "funeral_grant" if what == "funeral_grant" else f"{what}:{level}"
    if code == "fund:interest":
        return "interest"
    return code


def _expenditure_key(tcode: str, debit: str) -> str:
    if tcode in ("basic_pension", "owed_basic_pension") and debit.startswith("fiscal:"):
        return f"basic_pension:{debit.split(':')[1]}"
    if tcode in ("account_pension", "account_pension_pool", "owed_account_pension"):
        return "account_pension"
    if tcode == "settlement_heirs":
        return "inheritance"
    if tcode == "funeral_grant":
        return "funeral_grant"
    if tcode.startswith("returned:"):
        return "returned"
    if tcode == "reissue":
        return "reissued"
    return tcode


_FLOWS = sa.text(
    "SELECT t.code AS tcode, "
    "CASE WHEN d.kind = 'bucket' THEN 'person' ELSE d.code END AS debit, d.kind AS dkind, "
    "CASE WHEN c.kind = 'bucket' THEN 'person' ELSE c.code END AS credit, c.kind AS ckind, SUM(t.amount_fen) AS amount "
    "FROM ledger_transfer t JOIN ledger_account d ON d.id = t.debit_account_id JOIN ledger_account c ON c.id = t.credit_account_id "
    'WHERE t."on" >= :lo AND t."on" <= :hi GROUP BY t.code, d.code, d.kind, c.code, c.kind, '
    "CASE WHEN d.kind = 'bucket' THEN 'person' ELSE d.code END, CASE WHEN c.kind = 'bucket' THEN 'person' ELSE c.code END"
)


def flows(s: Session, lo: date, hi: date) -> tuple[dict[str, int], dict[str, int]]:
    """Income by source line and expenditure by kind, for transfers valued lo..hi."""
    income: dict[str, int] = defaultdict(int)
    spent: dict[str, int] = defaultdict(int)
    for r in s.execute(_FLOWS, {"lo": lo, "hi": hi}):
        amount = int(r.amount)
        dcls, ccls = account_class(r.debit, r.dkind), account_class(r.credit, r.ckind)
        if dcls == "source":
            income[_source_key(r.debit)] += amount
        if ccls == "source":
            income[_source_key(r.credit)] -= amount
        if ccls == "outflow":
            spent[_expenditure_key(r.tcode, r.debit)] += amount
        if dcls == "outflow":
            spent[_expenditure_key(r.tcode, r.credit)] -= amount
    return dict(income), dict(spent)


_HELD = (
    "SELECT CASE WHEN a.kind = 'bucket' THEN 'bucket:' || a.bucket ELSE a.code END AS part, "
    "SUM(CASE WHEN a.id = t.credit_account_id THEN t.amount_fen ELSE -t.amount_fen END) AS amount "
    "FROM ledger_transfer t JOIN ledger_account a ON a.id = t.credit_account_id OR a.id = t.debit_account_id "
    f"WHERE (a.kind = 'bucket' OR a.code IN ({_HELD_IN})) AND {{cond}} "
    "GROUP BY CASE WHEN a.kind = 'bucket' THEN 'bucket:' || a.bucket ELSE a.code END"
)


def held_on(s: Session, through: date) -> dict[str, int]:
    """What the fund holds, by part, from every transfer valued on or before `through`."""
    rows = s.execute(sa.text(_HELD.format(cond='t."on" <= :d')), {"d": through}).all()
    return {part: int(amount) for part, amount in rows}


def held_by_ledger_totals(s: Session) -> int:
    """The same balance from the accounts' kept running totals (all dates): the ledger's word."""
    return int(
        s.execute(
            sa.text(
                "SELECT COALESCE(SUM(credits_posted - debits_posted), 0) FROM ledger_account "
                f"WHERE kind = 'bucket' OR code IN ({_HELD_IN})"
            )
        ).scalar_one()
    )


def later_movements(s: Session, after: date) -> int:
    rows = s.execute(sa.text(_HELD.format(cond='t."on" > :d')), {"d": after}).all()
    return sum(int(a) for _, a in rows)


def report(s: Session, year: int) -> Report:
    lo, hi = year_bounds(year)
    income, spent = flows(s, lo, hi)
    opening = sum(held_on(s, date(year - 1, 12, 31)).values())
    closing_parts = held_on(s, hi)
    closing = sum(closing_parts.values())
    income_total, spent_total = sum(income.values()), sum(spent.values())
    ledger_total = held_by_ledger_totals(s)
    after = later_movements(s, hi)
    people = _people(s, year)
    item = [
        Column("item", "项目 / Item", "text", 4),
        Column("amount_fen", "金额（元）/ Amount (yuan)", "fen", 1.4),
    ]
    inc = Section(
        "收入 Income",
        item,
        _lines(income, INCOME_LABELS),
        {"item": "收入合计 / Total income", "amount_fen": income_total},
    )
    exp = Section(
        "支出 Expenditure",
        item,
        _lines(spent, EXPENDITURE_LABELS),
        {"item": "支出合计 / Total expenditure", "amount_fen": spent_total},
    )
    bal = Section(
        "结余 Balance",
        item,
        [
            {
                "key": "opening",
                "item": f"年初结余 / Opening balance {lo.isoformat()}",
                "amount_fen": opening,
            },
            {"key": "income", "item": "加：本年收入 / plus income", "amount_fen": income_total},
            {
                "key": "expenditure",
                "item": "减：本年支出 / less expenditure",
                "amount_fen": spent_total,
            },
            {
                "key": "closing",
                "item": f"年末结余 / Closing balance {hi.isoformat()}",
                "amount_fen": closing,
            },
            *_composition(closing_parts),
        ],
    )
    reconciled = opening + income_total - spent_total == closing and closing + after == ledger_total
    return Report(
        kind="fund",
        title=f"城乡居民基本养老保险基金收支表 {year} / Fund income and expenditure {year}",
        facts=[
            ("年度 Year", str(year)),
            ("年末参保人数 Enrolled at year end", str(people["enrolled"])),
            ("领取基础养老金人数 Paid a basic pension", str(people["paid"])),
        ],
        sections=[inc, exp, bal],
        notes=[
            "金额按记账日期（value date）统计，均来自总账。收入为净额：冲正、死亡当年利息冲回、冒领基础养老金退回各级财政均已抵减。",
            "Amounts are by value date, from the ledger. Income is net of corrections, interest reversed at death and overpaid basic pension charged back; "
            "the closing balance is what the individual accounts and the pooled fund hold, less overpayments still to recover.",
            f"核对 Reconciliation: 年末结余 {closing} 分 + 年后记账 {after} 分 = 总账余额 {ledger_total} 分: {'一致 OK' if reconciled else '不一致 MISMATCH'}",
        ],
        summary={
            "year": year,
            "opening_fen": opening,
            "income_fen": income_total,
            "expenditure_fen": spent_total,
            "closing_fen": closing,
            "income": income,
            "expenditure": spent,
            "enrolled": people["enrolled"],
            "paid_basic_pension": people["paid"],
            "ledger_held_fen": ledger_total,
            "after_year_fen": after,
            "reconciled": reconciled,
        },
    )


def _lines(amounts: dict[str, int], labels: dict[str, str]) -> list[dict[str, object]]:
    keys = [k for k in labels if k in ALWAYS or amounts.get(k)] + sorted(
        k for k in amounts if k not in labels and amounts[k]
    )
    return [
        {"key": k, "item": labels.get(k, f"其他 / other: {k}"), "amount_fen": amounts.get(k, 0)}
        for k in keys
    ]


def _composition(parts: dict[str, int]) -> list[dict[str, object]]:
    names = {
        "bucket:personal": "其中：个人账户·个人缴费 / of which accounts, personal",
        "bucket:collective": "其中：个人账户·集体补助 / of which accounts, collective",
        "bucket:other": "其中：个人账户·其他资助 / of which accounts, other",
        "bucket:government": "其中：个人账户·政府补贴 / of which accounts, government",
        "fund:pool": "其中：统筹基金 / of which pooled fund",
        "receivable:recoveries": "其中：待追回冒领款（减）/ of which overpayments to recover (less)",
    }
    if parts.get("returned:payments"):  # shown once the bank has returned anything
        names["returned:payments"] = (
            "其中：银行退回待重发 / of which returned by the bank, to re-issue"
        )
    return [{"key": k, "item": label, "amount_fen": parts.get(k, 0)} for k, label in names.items()]


def _people(s: Session, year: int) -> dict[str, int]:
    lo, hi = year_bounds(year)
    enrolled = s.execute(
        sa.text(
            "SELECT COUNT(*) FROM person p WHERE p.enrolled_on <= :hi AND (p.cancelled_on IS NULL OR p.cancelled_on > :hi) "
            "AND NOT EXISTS (SELECT 1 FROM death d WHERE d.person_id = p.id AND d.date_of_death <= :hi)"
        ),
        {"hi": hi},
    ).scalar_one()
    paid = s.execute(
        sa.text(
            "SELECT COUNT(DISTINCT pm.person_id) FROM paid_month pm JOIN payroll_run r ON r.id = pm.run_id WHERE r.run_on >= :lo AND r.run_on <= :hi"
        ),
        {"lo": lo, "hi": hi},
    ).scalar_one()
    return {"enrolled": int(enrolled), "paid": int(paid)}
