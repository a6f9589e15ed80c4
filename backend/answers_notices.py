"""Response models of the outreach routes (docs/notices.md): family contacts, SMS notices and
their delivery receipts, scored silent certification, grievances (申诉/信访).

What the services return and the OpenAPI declares (pure pydantic, like backend/answers.py).
Field names and shapes are the answers' as they were when they were dicts: clients rely on
them. Dates and times travel as ISO text, as they did.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# --- family contacts and notices ---------------------------------------------------------------


class FamilyContactCreatedOut(BaseModel):
    contact_id: str


class FamilyContactOut(BaseModel):
    contact_id: str
    name: str
    relation: str  # spouse | child | grandchild | sibling | other
    phone: str | None  # masked
    receives_notices: bool


class NoticeOut(BaseModel):
    notice_id: str
    kind: str
    recipient: str  # self | family:<contact id> | none
    phone: str | None  # masked
    text: str
    status: str  # pending | sending | sent | delivered | failed | rejected | no_recipient
    attempts: int
    last_error: str | None
    created_at: str
    sent_at: str | None
    delivered_at: str | None


class NoticePlanOut(BaseModel):
    """POST /notices/plan: how many notices of each kind were queued now (one field per
    kind of backend/policy/outreach.TEMPLATE_FIELDS; a kind without a field here fails)."""

    model_config = ConfigDict(extra="forbid")

    cert_due: int = 0
    cert_overdue: int = 0
    suspended: int = 0
    resumed_arrears: int = 0
    payment_returned: int = 0


class ReceiptAppliedOut(BaseModel):
    """POST /sms/receipts: False when no notice has that reference (or another message)."""

    applied: bool


# --- scored silent certification ---------------------------------------------------------------


class EvidenceLineOut(BaseModel):
    """One trace and whether it counted today, and why."""

    source: str
    label: str
    observed_on: str
    reference: str
    weight: int
    counted: bool
    why: str = ""


class SilentResultOut(BaseModel):
    level: str  # strong | medium | weak | hold
    score: int
    evaluated_on: str
    import_id: str
    certification_id: str | None
    review_case_id: str | None
    explanation: list[EvidenceLineOut]  # the evidence as it stood then


class SilentCertificationOut(BaseModel):
    """GET /persons/{person_id}/silent-certification: the evidence, which of it counts
    today and why, and each import's result (the latest 20)."""

    person_id: str
    score_today: int
    negative_signals: int
    evidence: list[EvidenceLineOut]
    results: list[SilentResultOut]


# --- grievances --------------------------------------------------------------------------------


class GrievanceDecisionOut(BaseModel):
    kind: str | None  # suspension | termination | certification | review_case
    id: str | None


class GrievanceOut(BaseModel):
    grievance_id: str
    person_id: str
    category: str
    decision: GrievanceDecisionOut | None  # the decision it is about, or changes
    description: str
    source: str  # staff | kiosk
    source_ref: str | None
    received_on: str
    due_on: str
    overdue: bool
    assignee: str | None
    status: str  # open | resolved
    outcome: str | None  # upheld | not_upheld
    resolution: str | None
    resolved_on: str | None
