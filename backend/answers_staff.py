"""Response models of the staff routes: payroll release and lines, terminations and
suspensions, four-eyes requests (approvals, bank-account changes, contribution reversals),
recoveries, the death-registry and data-match imports, certification status and due lists,
the review queue, and the reports' on-screen (JSON) form.

What the services return and the OpenAPI declares (pure pydantic, like backend/answers.py).
Where a route answers through the idempotency store or sets its own status code, it sends
the model's JSON dump; elsewhere FastAPI also checks the answer against it. Field names and
shapes are the answers' as they were when they were dicts: clients rely on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from backend.answers import CertificationOut, LocationOut, ReceiptRefOut

# a four-eyes request has one model (the refund's and transfer's proposals answer it too)
from backend.answers_payments import ApprovalOut as ApprovalOut

# --- payroll ----------------------------------------------------------------------------------


class PayrollApprovalOut(BaseModel):
    """POST /payroll-runs/{run_id}/approve: the run released by a second admin."""

    run_id: str
    period: str
    approved_by: str | None
    prepared_by: str
    status: str


class PayrollLineOut(BaseModel):
    person_id: str
    village_code: str
    months: int
    basic_fen: int
    account_fen: int
    arrears_fen: int
    total_fen: int
    from_buckets_fen: int  # the account pension drawn from the person's own buckets
    from_pool_fen: int  # ... and from the pool once they ran out
    status: str


class PayrollLinesOut(BaseModel):
    run_id: str
    period: str
    run_on: str
    status: str
    approved_by: str | None
    paid: int
    total_fen: int
    lines: list[PayrollLineOut]


# --- terminations -----------------------------------------------------------------------------


class TerminationOut(BaseModel):
    """A termination (death or another pension) and where it stands in its four-eyes steps."""

    termination_id: str
    person_id: str
    reason: str
    effective_on: str
    source: str
    status: str  # pending | rejected | confirmed | reinstate_pending | reinstated
    reported_by: str
    decided_by: str | None
    reinstate_proposed_by: str | None
    reinstated_by: str | None
    review_case_id: str | None
    payment_held: bool


class SettlementOut(BaseModel):
    """The death settlement's figures (DOMAIN.md, death settlement; services/settlement.py)."""

    overpaid_fen: int
    inheritable_fen: int
    offset_fen: int
    paid_to_heirs_fen: int
    returned_to_fund_fen: int
    recovery_due_fen: int
    funeral_grant_fen: int
    owed_months_paid_to_heirs_fen: int
    interest_reversed_fen: int
    recovery_order_id: str | None = None
    death_id: str | None = None


class TerminationConfirmedOut(SettlementOut, TerminationOut):
    """POST /terminations/{id}/confirm: the termination, with its settlement's figures."""


class ReinstatementOut(BaseModel):
    """A confirmed reinstatement: the settlement's posting reversed, its orders cancelled."""

    reversal_posting_id: str | None
    recovery_orders_cancelled: list[str]
    person_status: str


class TerminationReinstatedOut(TerminationOut):
    """POST /terminations/{id}/reinstate: 202 with the termination alone when proposed; 200
    with the reversal's figures too when a second person confirms (sent only then)."""

    reversal_posting_id: str | None = None
    recovery_orders_cancelled: list[str] | None = None
    person_status: str | None = None


# --- suspensions and recoveries ----------------------------------------------------------------


class SuspensionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    reason: str
    from_month: str
    to_month: str | None
    arrears: bool
    note: str
    created_by: str
    created_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None
    lift_note: str | None


class RecoveryOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    person_id: str
    reason: str
    due_fen: int
    repaid_fen: int
    status: str  # open | settled | cancelled
    created_at: datetime


# --- four-eyes requests -----------------------------------------------------------------------


class ReversalResultOut(BaseModel):
    """A confirmed contribution_reversal."""

    model_config = ConfigDict(extra="allow")

    contribution_id: str
    person_id: str
    reversed: bool
    reversal_posting_id: str | None
    balance_fen: int


class BankAccountResultOut(BaseModel):
    """A confirmed bank_account change; `applied` once the effective date is reached."""

    model_config = ConfigDict(extra="allow")

    person_id: str | None
    old: str | None
    new: str
    effective_on: str
    reason: str
    applied: bool


class LiftResultOut(SuspensionOut):
    """A confirmed suspension_lift: the lifted suspension."""

    model_config = ConfigDict(extra="allow", from_attributes=True)


class OtherResultOut(BaseModel):
    """A confirmed money-out request (cancellation_refund, transfer_out, heirs_payout, reissue):
    what its service answered (docs/payments.md)."""

    model_config = ConfigDict(extra="allow")


ApprovalResult = LiftResultOut | ReversalResultOut | BankAccountResultOut | OtherResultOut
RESULT_BY_KIND: dict[str, type[BaseModel]] = {
    "suspension_lift": LiftResultOut,
    "contribution_reversal": ReversalResultOut,
    "bank_account": BankAccountResultOut,
}


class ApprovalDecidedOut(ApprovalOut):
    """POST /approvals/{id}/confirm: the request and what confirming it did, by its `kind`;
    `replayed` when a concurrent twin confirmed first (its answer, no second act)."""

    result: ApprovalResult
    replayed: bool

    @model_validator(mode="before")
    @classmethod
    def _result_of_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("result"), dict):
            model = RESULT_BY_KIND.get(str(data.get("kind")), OtherResultOut)
            data = {**data, "result": model.model_validate(data["result"])}
        return data


# --- imports ----------------------------------------------------------------------------------


class DeathRegistryImportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rows: int
    settled: int  # always 0: a match opens a pending termination, never a settlement
    referred: int
    unmatched: int
    already_recorded: int
    pending: int


class DataMatchResultOut(BaseModel):
    person_id: str
    level: str
    score: int


class DataMatchOut(BaseModel):
    """POST /imports/data-match: one import's summary; the same file again answers the same
    with `already_imported`."""

    import_id: str
    source: str
    rows: int
    persons_with_new_evidence: int
    certified: int
    field_list: int
    held: int
    weak: int
    results: list[DataMatchResultOut]
    already_imported: bool


# --- certification ----------------------------------------------------------------------------


class CertificationStatusOut(BaseModel):
    person_id: str
    status: str  # certified | due | overdue | never
    valid_until: str | None
    last_passed: CertificationOut | None
    last: CertificationOut | None
    failures_today: int
    locked_today: bool


class DuePersonOut(BaseModel):
    person_id: str
    name: str
    village_code: str
    valid_until: str | None


class CertificationsDueOut(BaseModel):
    due: list[DuePersonOut]
    overdue: list[DuePersonOut]


# --- review -----------------------------------------------------------------------------------


class ReviewCaseOut(BaseModel):
    """A case in the review queue."""

    case_id: str
    person_id: str
    name: str
    village_code: str
    age: int
    reasons: list[str]
    status: str
    pending_decision: str | None
    terminate_reason: str | None
    effective_on: str | None
    first_reviewer: str | None
    certification_id: str | None
    created_at: str


class CalibrationFiguresOut(BaseModel):
    calibration_id: str
    calibrated_at: str
    gallery_size: int
    pass_at: float
    refer_at: float
    fmr_at_pass: float | None
    fnmr_at_pass: float | None
    fmr_at_refer: float | None
    fnmr_at_refer: float | None
    images: int
    identities: int
    genuine_pairs: int
    impostor_pairs: int


class FaceFiguresOut(BaseModel):
    """The thresholds for the person's gallery, and the county's measured figures (None: not
    calibrated)."""

    gallery_size: int
    pass_at: float
    refer_at: float
    measured: CalibrationFiguresOut | None


class ReviewCaseDetailOut(ReviewCaseOut):
    reason_details: list[dict[str, Any]]  # each reason's code and what the check measured
    person_status: str
    enrolled_photo: str | None  # data: URL
    captured_photo: str | None
    certification: CertificationOut | None
    face_figures: FaceFiguresOut
    location: LocationOut | None
    history: list[CertificationOut]
    first_note: str | None
    second_reviewer: str | None
    second_note: str | None
    decision: str | None


class ReviewDecisionOut(BaseModel):
    """A reviewer's decision. The optional fields are sent only where they apply: a
    termination's reason and date, an approval's certification and receipt, a confirmed
    termination's id and settlement."""

    case_id: str
    status: str
    decision: str
    needs_second_reviewer: bool
    terminate_reason: str | None = None
    effective_on: str | None = None
    certification_id: str | None = None
    valid_until: str | None = None
    receipt: ReceiptRefOut | None = None
    termination_id: str | None = None
    settlement: SettlementOut | None = None


# --- reports ----------------------------------------------------------------------------------


class ReportFactOut(BaseModel):
    label: str
    value: str


class ReportColumnOut(BaseModel):
    key: str
    label: str
    kind: str  # text | int | fen | rate


class ReportSectionOut(BaseModel):
    """A table: its rows are keyed by the columns' `key`, typed by their `kind`."""

    title: str
    columns: list[ReportColumnOut]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None


class ReportChartOut(BaseModel):
    name: str
    title: str


class ReportOut(BaseModel):
    """A report on screen (`format=json`); the same report as CSV, XLSX, PDF or a PNG chart
    is a file."""

    kind: str
    title: str
    facts: list[ReportFactOut]
    summary: dict[str, Any]
    sections: list[ReportSectionOut]
    notes: list[str]
    charts: list[ReportChartOut]
