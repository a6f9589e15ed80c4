"""Money out (docs/payments.md): bank return files, reconciliation, re-issues, the state of a
person's social security card account, heirs and their payouts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import Field
from sqlmodel import Session

from backend.api import deps
from backend.api.routes.benefits import bank_files_response
from backend.db import session_scope
from backend.schemas import Strict
from backend.services import bank_files, bank_returns, reconciliation
from backend.services.bank_returns import MAX_RETURN_BYTES
from backend.services.context import Actor
from backend.validation import Text

router = APIRouter(prefix="/api/v1", tags=["payments"])


async def _read(file: UploadFile) -> bytes:
    data = await file.read(MAX_RETURN_BYTES + 1)
    return data


@router.post("/payroll-runs/{run_id}/returns")
async def run_returns(
    run_id: str,
    request: Request,
    file: UploadFile = File(...),
    who: Actor = Depends(deps.require("admin")),
) -> dict[str, Any]:
    """Import the bank's return file (回盘) of the run's bank file: each line paid or returned.
    The same file again: `replayed`, nothing changes. Totals that do not match: 422, whole."""
    data = await _read(file)
    with session_scope(deps.state(request).engine) as session:
        out = bank_returns.import_for_run(deps.ctx_for(request, session, who), run_id, data)
        deps.write_event(request, session, who)  # commits with the reversals, or not at all
        return out


@router.get("/payroll-runs/{run_id}/reconciliation")
def run_reconciliation(
    run_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin", "clerk", "auditor")),
) -> dict[str, Any]:
    return reconciliation.for_run(deps.ctx_for(request, session, who), run_id)


@router.get("/disbursements/{disbursement_id}/bank-file")
def disbursement_file(
    disbursement_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> Response:
    ctx = deps.ctx_for(request, session, who)
    batch = bank_files.get(ctx, disbursement_id)
    layout = bank_files.banks().get(batch.bank_code)
    return bank_files_response(layout, bank_files.render(ctx, batch), f"bank-{batch.id}")


@router.post("/disbursements/{disbursement_id}/returns")
async def disbursement_returns(
    disbursement_id: str,
    request: Request,
    file: UploadFile = File(...),
    who: Actor = Depends(deps.require("admin")),
) -> dict[str, Any]:
    data = await _read(file)
    with session_scope(deps.state(request).engine) as session:
        ctx = deps.ctx_for(request, session, who)
        out = bank_returns.import_file(ctx, bank_files.get(ctx, disbursement_id), data)
        deps.write_event(request, session, who)
        return out


class ReissueIn(Strict):
    person_id: str | None = Field(default=None, max_length=32)
    bank: str | None = Field(default=None, max_length=16)


@router.post("/payments/reissues", status_code=201)
def reissue(
    body: ReissueIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> dict[str, Any]:
    """Re-issue now, in a bank file of its own, every returned payment whose account is fixed
    (of one person, or all); each is re-issued once, here or in the next payroll's file."""
    batch = bank_returns.reissue_now(deps.ctx_for(request, session, who), body.person_id, body.bank)
    return _batch_out(batch)


def _batch_out(batch: Any) -> dict[str, Any]:
    return {
        "disbursement_id": batch.id,
        "kind": batch.kind,
        "bank": batch.bank_code,
        "count": batch.count,
        "persons": batch.persons,
        "total_fen": batch.total_fen,
    }


class SscStateIn(Strict):
    state: str = Field(max_length=12)
    reason: Text = Field(max_length=200)


@router.put("/persons/{person_id}/ssc-account")
def ssc_state(
    person_id: str,
    body: SscStateIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> dict[str, Any]:
    """The state of the person's social security card financial account (active | inactive |
    closed), as the bank or the card centre reports it."""
    row = bank_returns.set_ssc_state(
        deps.ctx_for(request, session, who), person_id, body.state, body.reason
    )
    return payee_out(row)


@router.get("/persons/{person_id}/payee")
def payee(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin", "auditor")),
) -> dict[str, Any]:
    return payee_out(bank_returns.payee(deps.ctx_for(request, session, who), person_id))


def payee_out(row: Any) -> dict[str, Any]:
    return {
        "person_id": row.person_id,
        "ssc_state": row.ssc_state,
        "flag": row.flag,
        "flagged_at": row.flagged_at.isoformat() if row.flagged_at else None,
    }
