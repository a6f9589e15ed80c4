"""Internal control (four eyes): deciding pending terminations and four-eyes requests, and
proposing bank-account changes. The services write one audit event per act, in the request's
transaction, so this router is not under the generic write audit (a replayed confirmation
writes no second event)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlmodel import Session

from backend.answers_staff import (
    ApprovalDecidedOut,
    ApprovalOut,
    TerminationConfirmedOut,
    TerminationOut,
    TerminationReinstatedOut,
)
from backend.api import deps
from backend.schemas import Strict
from backend.services import four_eyes, registry, terminations
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["internal control"])
DECIDERS = ("clerk", "admin", "reviewer")
WRITERS = ("clerk", "admin")


class DecisionIn(Strict):
    note: str = Field(default="", max_length=500)


class RequiredNoteIn(Strict):
    note: str = Field(min_length=1, max_length=500)


class BankAccountIn(Strict):
    bank_account: str = Field(max_length=40, pattern=r"^[0-9 -]{8,40}$")
    effective_on: date
    reason: str = Field(min_length=1, max_length=500)


# --- terminations -----------------------------------------------------------------------------


@router.get("/terminations", response_model=list[TerminationOut])
def pending_terminations(
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS, "auditor")),
) -> list[TerminationOut]:
    """What waits for a second person: pending reports and proposed reinstatements."""
    return [
        terminations.answer(t) for t in terminations.pending(deps.ctx_for(request, session, who))
    ]


@router.get("/terminations/{termination_id}", response_model=TerminationOut)
def termination(
    termination_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS, "auditor")),
) -> TerminationOut:
    return terminations.answer(
        terminations.get(deps.ctx_for(request, session, who), termination_id)
    )


@router.get("/persons/{person_id}/terminations", response_model=list[TerminationOut])
def person_terminations(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS, "auditor")),
) -> list[TerminationOut]:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    return [terminations.answer(t) for t in terminations.list_for(ctx, person_id)]


@router.post("/terminations/{termination_id}/confirm", response_model=TerminationConfirmedOut)
def confirm_termination(
    termination_id: str,
    body: DecisionIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS)),
) -> TerminationConfirmedOut:
    """The second person: the settlement (DOMAIN.md, death settlement); the person is terminated."""
    row, settled = terminations.confirm(
        deps.ctx_for(request, session, who), termination_id, body.note
    )
    return TerminationConfirmedOut(**settled.model_dump(), **terminations.answer(row).model_dump())


@router.post("/terminations/{termination_id}/reject", response_model=TerminationOut)
def reject_termination(
    termination_id: str,
    body: RequiredNoteIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS)),
) -> TerminationOut:
    return terminations.answer(
        terminations.reject(deps.ctx_for(request, session, who), termination_id, body.note)
    )


@router.post(
    "/terminations/{termination_id}/reinstate",
    response_model=TerminationReinstatedOut,
    response_model_exclude_unset=True,
    responses={202: {"model": TerminationOut, "description": "proposed: a second person confirms"}},
)
def reinstate(
    termination_id: str,
    body: RequiredNoteIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS)),
) -> JSONResponse:
    """First call proposes (202, reinstate_pending); a different person's call confirms (200):
    the settlement reversed, recovery orders cancelled, the months since paid as arrears."""
    row, reversed_ = terminations.reinstate(
        deps.ctx_for(request, session, who), termination_id, body.note
    )
    status = 200 if row.status == "reinstated" else 202
    answer = TerminationReinstatedOut(
        **(reversed_.model_dump() if reversed_ else {}), **terminations.answer(row).model_dump()
    )
    return JSONResponse(answer.model_dump(mode="json", exclude_unset=True), status_code=status)


# --- four-eyes requests -----------------------------------------------------------------------


@router.get("/approvals", response_model=list[ApprovalOut])
def approvals(
    request: Request,
    status: str = "pending",
    kind: str | None = None,
    person_id: str | None = None,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS, "auditor")),
) -> list[ApprovalOut]:
    ctx = deps.ctx_for(request, session, who)
    return [four_eyes.answer(r) for r in four_eyes.listing(ctx, status, kind, person_id)]


@router.post("/approvals/{request_id}/confirm", response_model=ApprovalDecidedOut)
def confirm_request(
    request_id: str,
    body: DecisionIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS)),
) -> JSONResponse:
    """The second person acts; a concurrent twin's late call replays the first answer."""
    done = four_eyes.confirm(deps.ctx_for(request, session, who), request_id, body.note)
    headers = {"Idempotent-Replayed": "true"} if done.replayed else None
    answer = four_eyes.decided_answer(done)
    return JSONResponse(answer.model_dump(mode="json"), headers=headers)


@router.post("/approvals/{request_id}/reject", response_model=ApprovalOut)
def reject_request(
    request_id: str,
    body: RequiredNoteIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS)),
) -> ApprovalOut:
    return four_eyes.answer(
        four_eyes.reject(deps.ctx_for(request, session, who), request_id, body.note)
    )


# --- bank accounts ----------------------------------------------------------------------------


@router.post("/persons/{person_id}/bank-account", response_model=ApprovalOut, status_code=202)
def propose_bank_account(
    person_id: str,
    body: BankAccountIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> ApprovalOut:
    """A change of the account the pension is paid into, from `effective_on`: pending until a
    second person confirms it (POST /approvals/{request_id}/confirm)."""
    ctx = deps.ctx_for(request, session, who)
    return four_eyes.answer(
        four_eyes.propose_bank_account(
            ctx, person_id, body.bank_account, body.effective_on, body.reason
        )
    )


@router.get("/persons/{person_id}/bank-account/history", response_model=list[ApprovalOut])
def bank_account_history(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*DECIDERS, "auditor")),
) -> list[ApprovalOut]:
    """Every proposed change, confirmed, rejected or pending, oldest first."""
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    return [four_eyes.answer(r) for r in four_eyes.listing(ctx, "all", "bank_account", person_id)]
