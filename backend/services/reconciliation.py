"""Reconciliation of a payroll run with the bank (帐实相符): what was sent, what the bank paid,
what it returned, what was re-issued, and what is still outstanding (sent and not yet known
paid). A re-issue belongs to the run whose money it carries. Money returned to a holder whose
death is confirmed is settled to the estate (heirs, recovery): no longer outstanding."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from backend.answers_payments import ReconciliationLineOut, ReconciliationOut
from backend.models import DisbursementItem, DisbursementPart, PayrollLine
from backend.services.context import Ctx
from backend.services.payroll import get_run


def for_run(ctx: Ctx, run_id: str) -> ReconciliationOut:
    run = get_run(ctx.session, run_id)
    parts = list(
        ctx.session.exec(
            select(DisbursementPart)
            .where(DisbursementPart.run_id == run_id)
            .order_by(col(DisbursementPart.id))
        ).all()
    )
    originals = {p.source_ref: p for p in parts if p.source == "payroll"}
    by_id = {p.id: p for p in parts}
    reasons = _reasons(ctx, {p.item_id for p in parts})
    sent = sum(p.amount_fen for p in originals.values())
    paid = sum(p.amount_fen for p in parts if p.status == "paid")
    estate = sum(p.amount_fen for p in parts if p.estate_posting_id)
    lines = []
    for line in ctx.session.exec(
        select(PayrollLine).where(PayrollLine.run_id == run_id).order_by(col(PayrollLine.person_id))
    ).all():
        part = originals.get(str(line.id))
        lines.append(_line(line, part, by_id, reasons))
    return ReconciliationOut(
        run_id=run.id,
        period=run.period,
        sent_fen=sent,
        paid_fen=paid,
        returned_fen=sum(p.amount_fen for p in parts if p.status == "returned"),
        reissued_fen=sum(p.amount_fen for p in parts if p.source == "reissue"),
        to_estate_fen=estate,
        outstanding_fen=sent - paid - estate,
        lines=lines,
    )


def _reasons(ctx: Ctx, item_ids: set[int]) -> dict[int, tuple[str | None, str | None]]:
    if not item_ids:
        return {}
    rows = ctx.session.exec(
        select(DisbursementItem).where(col(DisbursementItem.id).in_(item_ids))
    ).all()
    return {r.id or 0: (r.reason, r.bank_reason) for r in rows}


def _line(
    line: PayrollLine,
    part: DisbursementPart | None,
    by_id: dict[int | None, DisbursementPart],
    reasons: dict[int, tuple[str | None, str | None]],
) -> ReconciliationLineOut:
    out: dict[str, Any] = {
        "person_id": line.person_id,
        "amount_fen": line.total_fen,
        "status": "not_sent" if part is None else part.status,
        "reason": None,
        "bank_reason": None,
        "paid_fen": 0,
        "reissued_fen": 0,
        "to_estate_fen": 0,
    }
    chain = []
    while part is not None:  # the original, then each re-issue of it
        chain.append(part)
        part = by_id.get(part.reissued_by) if part.reissued_by else None
    for p in chain:
        if p.status == "paid":
            out["paid_fen"] += p.amount_fen
        if p.source == "reissue":
            out["reissued_fen"] += p.amount_fen
        if p.status == "returned":
            out["reason"], out["bank_reason"] = reasons.get(p.item_id, (None, None))
        if p.estate_posting_id:
            out["to_estate_fen"] += p.amount_fen
    if chain:
        last = chain[-1]
        out["status"] = (
            "reissued_paid"
            if len(chain) > 1 and last.status == "paid"
            else ("reissued" if len(chain) > 1 and last.status == "sent" else last.status)
        )
        if last.estate_posting_id:
            out["status"] = "to_estate"
    out["outstanding_fen"] = (
        (line.total_fen if chain else 0) - out["paid_fen"] - out["to_estate_fen"]
    )
    return ReconciliationLineOut(**out)
