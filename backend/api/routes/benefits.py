"""Awards, payroll, suspensions, deaths and recoveries."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, File, Header, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictInt
from sqlmodel import Session

from backend.answers import PaymentsOut
from backend.answers_staff import (
    ApprovalOut,
    DeathRegistryImportOut,
    PayrollApprovalOut,
    PayrollLinesOut,
    RecoveryOrderOut,
    SuspensionOut,
    TerminationOut,
)
from backend.api import deps
from backend.banks.layout import Layout
from backend.db import session_scope
from backend.models import FourEyesRequest
from backend.schemas import Strict
from backend.services import (
    audit,
    awards,
    four_eyes,
    idempotency,
    payroll,
    payroll_bank_file,
    registry,
    settlement,
    suspensions,
    terminations,
)
from backend.services import death_registry as death_records
from backend.services.context import Actor
from backend.validation import Text

router = APIRouter(prefix="/api/v1", tags=["benefits"])
WRITERS = ("clerk", "admin")


class AwardIn(Strict):
    awarded_on: date
    bank_account: str | None = Field(default=None, max_length=40, pattern=r"^[0-9 -]{8,40}$")


class AwardOut(BaseModel):
    award_id: str
    person_id: str
    first_month: str
    account_pension_fen: int
    basic_pension_fen: int
    contribution_years: int
    eligibility_group: str
    family_binding: bool


class PayrollRunIn(Strict):
    period: str = Field(max_length=7)
    run_on: date | None = None


class PayrollRunOut(BaseModel):
    run_id: str
    period: str
    run_on: date
    paid: int
    total_fen: int
    suspended: int
    resumed: bool = False


class DeathIn(Strict):
    date_of_death: date
    source: str = Field(default="manual_report", max_length=40)


class OtherPensionIn(Strict):
    started_on: date
    note: Text = Field(default="", max_length=500)


class SuspensionIn(Strict):
    reason: str = Field(max_length=30)
    from_month: str = Field(max_length=7)
    note: Text = Field(min_length=1, max_length=500)


class NoteIn(Strict):
    note: Text = Field(min_length=1, max_length=500)


class RepaymentIn(Strict):
    amount_fen: StrictInt = Field(gt=0, le=100_000_000)
    paid_on: date


@router.post("/persons/{person_id}/award", response_model=AwardOut, status_code=201)
def award(
    person_id: str,
    body: AwardIn,
    request: Request,
    who: Actor = Depends(deps.require(*WRITERS)),
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    def work(session: Session) -> idempotency.Reply:
        ctx = deps.ctx_for(request, session, who)
        granted = awards.grant(ctx, person_id, body.awarded_on, body.bank_account)
        a = granted.award
        out = AwardOut(
            award_id=a.id,
            person_id=person_id,
            first_month=a.first_month,
            account_pension_fen=a.account_pension_fen,
            basic_pension_fen=granted.basic_pension_fen,
            contribution_years=a.contribution_years,
            eligibility_group=a.eligibility_group,
            family_binding=a.family_binding,
        )
        return idempotency.Reply(201, out.model_dump(mode="json"))

    return deps.idempotent(
        request,
        f"POST /award|{who.label}|{person_id}",
        idempotency_key,
        body.model_dump(mode="json"),
        work,
        audit_as=who,
    )


@router.post("/payroll-runs", response_model=PayrollRunOut, status_code=201)
def run_payroll(
    body: PayrollRunIn, request: Request, who: Actor = Depends(deps.require("admin"))
) -> JSONResponse:
    st = deps.state(request)
    r = payroll.run(st.engine, st.policy, who, st.today(), body.period, body.run_on)
    request.state.audited = True  # each of the run's transactions carries its own event
    return JSONResponse(PayrollRunOut(**r.__dict__).model_dump(mode="json"), status_code=201)


@router.post("/payroll-runs/{run_id}/approve", response_model=PayrollApprovalOut)
def approve_payroll(
    run_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> PayrollApprovalOut:
    """Four eyes: a second, different admin releases the prepared run; then the bank file."""
    ctx = deps.ctx_for(request, session, who)
    run = payroll.approve(session, run_id, who)
    after = {"run_id": run.id, "period": run.period, "approved_by": run.approved_by}
    audit.record(ctx, "payroll.approve", run.id, after=after)
    return PayrollApprovalOut(
        run_id=run.id,
        period=run.period,
        approved_by=run.approved_by,
        prepared_by=run.created_by,
        status="approved",
    )


@router.get("/payroll-runs/{run_id}/lines", response_model=PayrollLinesOut)
def payroll_lines(
    run_id: str,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin", "clerk", "reviewer", "auditor")),
) -> PayrollLinesOut:
    return payroll.run_lines(session, run_id)


@router.get(
    "/payroll-runs/{run_id}/bank-file",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the bank's CSV file"}},
)
def bank_file(
    run_id: str,
    request: Request,
    bank: str | None = None,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> Response:
    """The run's disbursement file in its agency bank's layout (default: the county's
    default bank); frozen on first fetch, the same bytes every time after."""
    layout, data = payroll_bank_file.payroll_file(deps.ctx_for(request, session, who), run_id, bank)
    # the read itself is audited as every read is, even when the first fetch froze the file
    subject = ";".join([run_id, *([f"bank={bank}"] if bank else [])])
    audit.append(session, who, "read /api/v1/payroll-runs/{run_id}/bank-file", subject)
    return bank_files_response(layout, data, f"bank-{run_id}")


def bank_files_response(layout: Layout, data: bytes, stem: str) -> Response:
    kind = "text/csv" if layout.format == "csv" else "text/plain"
    ext = "csv" if layout.format == "csv" else "txt"
    return Response(
        data,
        media_type=f"{kind}; charset={layout.encoding}",
        headers={"Content-Disposition": f'attachment; filename="{stem}.{ext}"'},
    )


@router.post("/persons/{person_id}/death", response_model=TerminationOut, status_code=202)
def death(
    person_id: str,
    body: DeathIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> TerminationOut:
    """A report: a pending termination, payment held; a second person confirms or rejects it
    (POST /terminations/{termination_id}/confirm | reject)."""
    row = terminations.report(
        deps.ctx_for(request, session, who),
        person_id,
        "death",
        body.date_of_death,
        body.source,
    )
    return terminations.answer(row)


@router.post("/persons/{person_id}/other-pension", response_model=TerminationOut, status_code=202)
def other_pension(
    person_id: str,
    body: OtherPensionIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> TerminationOut:
    row = terminations.report(
        deps.ctx_for(request, session, who),
        person_id,
        "other_pension",
        body.started_on,
        "other_pension",
        note=body.note or "urban employee pension found",
    )
    return terminations.answer(row)


@router.post("/imports/death-registry", response_model=DeathRegistryImportOut)
async def death_registry(
    request: Request, file: UploadFile = File(...), who: Actor = Depends(deps.require("admin"))
) -> DeathRegistryImportOut:
    data = await file.read()
    with session_scope(deps.state(request).engine) as session:
        result = death_records.import_death_registry(deps.ctx_for(request, session, who), data)
        deps.write_event(request, session, who)  # commits with the settlements, or not at all
        return DeathRegistryImportOut.model_validate(result)


@router.post("/persons/{person_id}/suspensions", response_model=SuspensionOut, status_code=201)
def suspend(
    person_id: str,
    body: SuspensionIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> SuspensionOut:
    row = suspensions.suspend(
        deps.ctx_for(request, session, who), person_id, body.reason, body.from_month, body.note
    )
    return SuspensionOut.model_validate(row)


@router.post(
    "/suspensions/{suspension_id}/lift",
    response_model=SuspensionOut,
    responses={202: {"model": ApprovalOut, "description": "proposed: a second person confirms"}},
)
def lift(
    suspension_id: str,
    body: NoteIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> JSONResponse:
    """A manual suspension is lifted at once (200); one that two imposed (investigation) only
    proposed (202): a second person confirms at POST /approvals/{request_id}/confirm."""
    done = four_eyes.propose_lift(deps.ctx_for(request, session, who), suspension_id, body.note)
    if isinstance(done, FourEyesRequest):
        return JSONResponse(four_eyes.answer(done).model_dump(mode="json"), status_code=202)
    return JSONResponse(SuspensionOut.model_validate(done).model_dump(mode="json"))


@router.get("/persons/{person_id}/payments", response_model=PaymentsOut)
def payments(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF, "kiosk")),
    x_resident_session: str | None = Header(default=None),
    limit: int = 24,
) -> dict:
    """The person's pension payments, newest first: what the kiosk's 发放记录 shows."""
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id, x_resident_session)
    return {
        "person_id": person_id,
        "payments": payroll.payments_of(session, person_id, max(1, min(limit, 240))),
    }


@router.get("/persons/{person_id}/suspensions", response_model=list[SuspensionOut])
def list_suspensions(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> list[SuspensionOut]:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    return [SuspensionOut.model_validate(s) for s in suspensions.for_person(ctx, person_id)]


@router.post("/recovery-orders/{order_id}/repayments", response_model=RecoveryOrderOut)
def repayment(
    order_id: str,
    body: RepaymentIn,
    request: Request,
    who: Actor = Depends(deps.require(*WRITERS)),
    idempotency_key: str | None = Header(default=None),
) -> JSONResponse:
    def work(session: Session) -> idempotency.Reply:
        order = settlement.repay(
            deps.ctx_for(request, session, who), order_id, body.amount_fen, body.paid_on
        )
        return idempotency.Reply(
            200, RecoveryOrderOut.model_validate(order).model_dump(mode="json")
        )

    return deps.idempotent(
        request,
        f"POST /repayments|{who.label}|{order_id}",
        idempotency_key,
        body.model_dump(mode="json"),
        work,
        audit_as=who,
    )
