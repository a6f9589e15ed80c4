"""Money out (docs/payments.md): bank return files, reconciliation, re-issues, the state of a
person's social security card account, heirs and their payouts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from backend.answers_payments import (
    ApprovalOut,
    DisbursementOut,
    HeirOut,
    HeirsOut,
    HeirsOwedOut,
    PayeeOut,
    ReconciliationOut,
    ReturnImportOut,
    TransferDocumentOut,
)
from backend.api import deps
from backend.api.routes.benefits import bank_files_response
from backend.db import session_scope
from backend.models import Disbursement, PayeeAccount
from backend.schemas import Strict
from backend.services import (
    bank_files,
    bank_returns,
    four_eyes,
    heirs,
    reconciliation,
    transfers,
)
from backend.services.bank_returns import MAX_RETURN_BYTES
from backend.services.context import Actor
from backend.validation import Line, Text

router = APIRouter(prefix="/api/v1", tags=["payments"])


async def _read(file: UploadFile) -> bytes:
    data = await file.read(MAX_RETURN_BYTES + 1)
    return data


@router.post("/payroll-runs/{run_id}/returns", response_model=ReturnImportOut)
async def run_returns(
    run_id: str,
    request: Request,
    file: UploadFile = File(...),
    who: Actor = Depends(deps.require("admin")),
) -> ReturnImportOut:
    """Import the bank's return file (回盘) of the run's bank file: each line paid or returned.
    The same file again: `replayed`, nothing changes. Totals that do not match: 422, whole."""
    data = await _read(file)
    with session_scope(deps.state(request).engine) as session:
        out = bank_returns.import_for_run(deps.ctx_for(request, session, who), run_id, data)
        deps.write_event(request, session, who)  # commits with the reversals, or not at all
        return out


@router.get("/payroll-runs/{run_id}/reconciliation", response_model=ReconciliationOut)
def run_reconciliation(
    run_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin", "clerk", "auditor")),
) -> ReconciliationOut:
    return reconciliation.for_run(deps.ctx_for(request, session, who), run_id)


@router.get(
    "/disbursements/{disbursement_id}/bank-file",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}, "text/plain": {}},
            "description": "the batch's bank file in its agency bank's layout (CSV or fixed-width)",
        }
    },
)
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


@router.post("/disbursements/{disbursement_id}/returns", response_model=ReturnImportOut)
async def disbursement_returns(
    disbursement_id: str,
    request: Request,
    file: UploadFile = File(...),
    who: Actor = Depends(deps.require("admin")),
) -> ReturnImportOut:
    data = await _read(file)
    with session_scope(deps.state(request).engine) as session:
        ctx = deps.ctx_for(request, session, who)
        out = bank_returns.import_file(ctx, bank_files.get(ctx, disbursement_id), data)
        deps.write_event(request, session, who)
        return out


class ReissueIn(Strict):
    person_id: str | None = Field(default=None, max_length=32)
    bank: str | None = Field(default=None, max_length=16)


@router.post("/payments/reissues", status_code=202, response_model=ApprovalOut)
def reissue(
    body: ReissueIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> ApprovalOut:
    """Re-issue now, proposed (four eyes): on a second person's confirmation, a bank file of
    its own with the returned payments proposed (of one person, or all) whose account is fixed;
    each is re-issued once, here or in the next payroll's file."""
    row = four_eyes.propose_reissue(deps.ctx_for(request, session, who), body.person_id, body.bank)
    return four_eyes.answer(row)


def _batch_out(batch: Disbursement) -> DisbursementOut:
    return DisbursementOut(
        disbursement_id=batch.id,
        kind=batch.kind,
        bank=batch.bank_code,
        count=batch.count,
        persons=batch.persons,
        total_fen=batch.total_fen,
    )


class SscStateIn(Strict):
    state: str = Field(max_length=12)
    reason: Text = Field(max_length=200)


@router.put("/persons/{person_id}/ssc-account", response_model=PayeeOut)
def ssc_state(
    person_id: str,
    body: SscStateIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> PayeeOut:
    """The state of the person's social security card financial account (active | inactive |
    closed), as the bank or the card centre reports it."""
    row = bank_returns.set_ssc_state(
        deps.ctx_for(request, session, who), person_id, body.state, body.reason
    )
    return payee_out(row)


@router.get("/persons/{person_id}/payee", response_model=PayeeOut)
def payee(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin", "auditor")),
) -> PayeeOut:
    ctx = deps.ctx_for(request, session, who)
    return payee_out(bank_returns.payee(ctx, person_id, create=False))


def payee_out(row: PayeeAccount) -> PayeeOut:
    return PayeeOut(
        person_id=row.person_id,
        ssc_state=row.ssc_state,
        flag=row.flag,
        flagged_at=row.flagged_at.isoformat() if row.flagged_at else None,
    )


# --- heirs ----------------------------------------------------------------------------------------


class HeirBody(Strict):
    name: Line = Field(min_length=1, max_length=60)
    id_number: str = Field(max_length=40)
    share_bp: int = Field(ge=1, le=10_000)
    bank_account: str = Field(max_length=40)


class HeirsIn(Strict):
    heirs: list[HeirBody] = Field(min_length=1, max_length=20)


@router.post("/persons/{person_id}/heirs", status_code=201, response_model=HeirsOut)
def record_heirs(
    person_id: str,
    body: HeirsIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> HeirsOut:
    """Record a deceased person's heirs; a second person confirms them before any payout."""
    ctx = deps.ctx_for(request, session, who)
    rows = heirs.record(ctx, person_id, [heirs.HeirIn(**h.model_dump()) for h in body.heirs])
    return HeirsOut(person_id=person_id, heirs=[heirs.out(ctx, r) for r in rows])


@router.post("/persons/{person_id}/heirs/confirm", response_model=HeirsOut)
def confirm_heirs(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> HeirsOut:
    ctx = deps.ctx_for(request, session, who)
    rows = heirs.confirm(ctx, person_id)
    return HeirsOut(person_id=person_id, heirs=[heirs.out(ctx, r) for r in rows])


@router.get("/persons/{person_id}/heirs", response_model=HeirsOwedOut)
def list_heirs(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin", "auditor")),
) -> HeirsOwedOut:
    ctx = deps.ctx_for(request, session, who)
    return HeirsOwedOut(
        person_id=person_id,
        owed_fen=heirs.owed(ctx, person_id),
        heirs=heirs.listing(ctx, person_id),
    )


class BankIn(Strict):
    bank: str | None = Field(default=None, max_length=16)


@router.post("/persons/{person_id}/heirs/payouts", status_code=202, response_model=ApprovalOut)
def heirs_payout(
    person_id: str,
    body: BankIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> ApprovalOut:
    """Pay what `payable:heirs` holds for the person to the confirmed heirs, proposed (four
    eyes): a second person's confirmation writes the bank file (its `result.disbursement_id`:
    GET /disbursements/{id}/bank-file; its return file: POST /disbursements/{id}/returns)."""
    row = four_eyes.propose_heirs_payout(deps.ctx_for(request, session, who), person_id, body.bank)
    return four_eyes.answer(row)


class AccountIn(Strict):
    bank_account: str = Field(max_length=40)
    reason: Text = Field(min_length=1, max_length=200)


@router.post("/heirs/{heir_id}/bank-account", status_code=202, response_model=HeirOut)
def propose_heir_account(
    heir_id: str,
    body: AccountIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> HeirOut:
    ctx = deps.ctx_for(request, session, who)
    return heirs.out(ctx, heirs.propose_account(ctx, heir_id, body.bank_account, body.reason))


@router.post("/heirs/{heir_id}/bank-account/confirm", response_model=HeirOut)
def confirm_heir_account(
    heir_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> HeirOut:
    ctx = deps.ctx_for(request, session, who)
    return heirs.out(ctx, heirs.confirm_account(ctx, heir_id))


# --- cancellation refund --------------------------------------------------------------------------


class RefundIn(Strict):
    bank_account: str = Field(default="", max_length=40)
    bank: str | None = Field(default=None, max_length=16)


@router.post("/persons/{person_id}/refund", status_code=202, response_model=ApprovalOut)
def cancellation_refund(
    person_id: str,
    body: RefundIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> ApprovalOut:
    """注销退费, proposed: personal, collective and other buckets to the member by bank file (no
    account: the card's financial account), the government bucket back to the pooled fund,
    once a second person confirms (POST /approvals/{request_id}/confirm)."""
    row = four_eyes.propose_refund(
        deps.ctx_for(request, session, who), person_id, body.bank_account, body.bank
    )
    return four_eyes.answer(row)


# --- transfer out (转移接续) -----------------------------------------------------------------------


class TransferOutIn(Strict):
    to_county: Line = Field(min_length=1, max_length=120)
    reason: Text = Field(min_length=1, max_length=200)


@router.post("/persons/{person_id}/transfer-out", status_code=202, response_model=ApprovalOut)
def transfer_out(
    person_id: str,
    body: TransferOutIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("clerk", "admin")),
) -> ApprovalOut:
    """Close the account to another county, proposed; on a second person's confirmation the
    buckets move out in one posting, the person is cancelled and the transfer document is kept
    (the confirmation's `result.document_id`; GET /transfer-documents/{id}[/pdf])."""
    row = four_eyes.propose_transfer_out(
        deps.ctx_for(request, session, who), person_id, body.to_county, body.reason
    )
    return four_eyes.answer(row)


@router.get("/transfer-documents/{document_id}", response_model=TransferDocumentOut)
def transfer_document(
    document_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> TransferDocumentOut:
    """The machine-readable document (full ID number: for the receiving county only)."""
    return transfers.document(deps.ctx_for(request, session, who), document_id)


@router.get(
    "/transfer-documents/{document_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the document's PDF"}},
)
def transfer_document_pdf(
    document_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> Response:
    body = transfers.document(deps.ctx_for(request, session, who), document_id)
    return Response(
        transfers.pdf(body),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="transfer-{document_id}.pdf"'},
    )


class TransferInIn(Strict):
    document: dict[str, Any]
    village_code: str = Field(min_length=1, max_length=40)
    public_key: Text | None = Field(default=None, max_length=2000)  # PEM; default: a known key


class TransferInOut(BaseModel):
    person_id: str
    document_id: str
    total_fen: int
    buckets_fen: dict[str, int]
    from_county: str
    signing_key_id: str


@router.post("/transfer-documents", status_code=201, response_model=TransferInOut)
def transfer_in(
    body: TransferInIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> dict[str, Any]:
    """Open a member's balances from another county's signed transfer document, once (as
    `nongbao import transfer-in`): 422 `transfer_checksum`, `transfer_signature` (unsigned,
    signed by another key than the one given or known, altered), `transfer_malformed`;
    409 `already_imported`."""
    data = json.dumps(body.document, ensure_ascii=False).encode()
    pem = body.public_key.encode() if body.public_key else None
    return transfers.transfer_in(deps.ctx_for(request, session, who), data, body.village_code, pem)
