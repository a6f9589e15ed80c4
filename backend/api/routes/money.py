"""Contributions, accounts, interest, imports, the ledger check and the policy."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Header, Request, Security, UploadFile
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend import ledger
from backend.answers_staff import ApprovalOut
from backend.api import deps
from backend.db import session_scope
from backend.models import Contribution
from backend.policy import Policy
from backend.schemas import (
    AccountOut,
    ContributionIn,
    ContributionOut,
    ImportOut,
    InterestRunIn,
    InterestRunOut,
    LedgerCheckOut,
    ReasonIn,
)
from backend.services import (
    audit,
    contributions,
    four_eyes,
    idempotency,
    imports,
    interest,
    registry,
)
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1", tags=["money"])
WRITERS = ("clerk", "admin")


def _contribution_out(c: Contribution, balance_fen: int) -> dict:
    return ContributionOut(
        contribution_id=c.id,
        person_id=c.person_id,
        year=c.year,
        kind=c.kind,
        tier_fen=c.tier_fen,
        personal_fen=c.personal_fen,
        collective_fen=c.collective_fen,
        other_fen=c.other_fen,
        government_fen=c.government_fen,
        balance_fen=balance_fen,
        paid_on=c.paid_on,
        reversed=c.reversed_at is not None,
    ).model_dump(mode="json")


@router.post("/contributions", response_model=ContributionOut, status_code=201)
def pay(
    body: ContributionIn,
    request: Request,
    who: Actor = Depends(deps.require(*WRITERS)),
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    def work(session: Session) -> idempotency.Reply:
        ctx = deps.ctx_for(request, session, who)
        posted = contributions.pay(ctx, contributions.ContributionRequest(**body.model_dump()))
        return idempotency.Reply(201, _contribution_out(posted.contribution, posted.balance_fen))

    return deps.idempotent(
        request,
        f"POST /contributions|{who.label}",
        idempotency_key,
        body.model_dump(mode="json"),
        work,
        audit_as=who,
    )


@router.post(
    "/contributions/{contribution_id}/reversal", response_model=ApprovalOut, status_code=202
)
def reverse(
    contribution_id: str,
    body: ReasonIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> ApprovalOut:
    """Proposes the reversal (202, pending); a second person confirms it at
    POST /approvals/{request_id}/confirm, and only then does the money move."""
    ctx = deps.ctx_for(request, session, who)
    return four_eyes.answer(four_eyes.propose_reversal(ctx, contribution_id, body.reason))


@router.get("/persons/{person_id}/contributions", response_model=list[ContributionOut])
def list_contributions(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF, "kiosk")),
    x_resident_session: str | None = Header(default=None),
) -> list[dict]:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id, x_resident_session)
    balance = sum(ledger.person_buckets(session, person_id).values())
    return [_contribution_out(c, balance) for c in contributions.list_for(ctx, person_id)]


# The balance read is the county's busiest route (every kiosk visit, every counter query).
# It is on a router of its own, without the router-level dependencies: their session, caller
# and audit event each cost trips through the thread pool and dependency solving on the
# event loop, which cost this read as much as its queries. Here the sign-in, the read, its
# audit event and the commit take one trip, in one unit of work, with the same checks and
# the same event ("read account") as before; tests/backend/test_read_audit.py walks it too.
one_trip = APIRouter(prefix="/api/v1", tags=["money"])


@one_trip.get("/persons/{person_id}/account", response_model=AccountOut)
async def account(
    person_id: str,
    request: Request,
    x_resident_session: str | None = Header(default=None),
    _doc: HTTPAuthorizationCredentials | None = Security(deps.bearer_scheme),
) -> dict:
    return await run_in_threadpool(_read_account, request, person_id, x_resident_session)


def _read_account(request: Request, person_id: str, resident_session: str | None) -> dict:
    with session_scope(deps.state(request).engine) as session:
        who = deps.signed_in(request, session, (*deps.STAFF, "kiosk"))
        ctx = deps.ctx_for(request, session, who)
        registry.readable(ctx, person_id, resident_session)
        audit.record(ctx, "read account", person_id)
        return contributions.account_of(session, person_id)  # the person was found just above


@router.post("/interest-runs", response_model=InterestRunOut)
def run_interest(
    body: InterestRunIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> JSONResponse:
    result = interest.run(deps.ctx_for(request, session, who), body.year)
    out = InterestRunOut(
        year=result.year, accounts=result.accounts, total_fen=result.total_fen
    ).model_dump()
    return JSONResponse(out, status_code=201 if result.created else 200)


@router.post("/imports/old-scheme", response_model=ImportOut)
async def import_old_scheme(
    request: Request, file: UploadFile = File(...), who: Actor = Depends(deps.require("admin"))
) -> ImportOut:
    data = await file.read()
    st = deps.state(request)
    from backend.db import session_scope

    with session_scope(st.engine) as session:
        result = imports.old_scheme(
            deps.ctx_for(request, session, who), data, source=file.filename or "upload"
        )
        deps.write_event(request, session, who)  # commits with the postings, or not at all
    return ImportOut(**result.__dict__)


@router.get("/ledger/check", response_model=LedgerCheckOut)
def ledger_check(
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin", "auditor")),
) -> LedgerCheckOut:
    report = ledger.check(session)
    return LedgerCheckOut(ok=report.ok, **{k: v for k, v in report.__dict__.items()})


@router.get("/policy", response_model=Policy)
def policy(request: Request, _: Actor = Depends(deps.require(*deps.STAFF))) -> Policy:
    """The county's policy as loaded (backend/policy/*.toml), under its file's names."""
    return deps.state(request).policy
