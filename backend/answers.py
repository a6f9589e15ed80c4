"""Response models of the device-facing routes (the kiosk's and the field app's): what the
services return, what the OpenAPI declares, and what the typed client (client/models.py)
parses; a contract test (tests/client/test_contract.py) runs the one against the other.

Where a route answers through the idempotency store (a JSONResponse replayed byte for byte),
the model documents the answer; elsewhere FastAPI also checks the answer against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ChallengeOut(BaseModel):
    challenge_id: str
    nonce: str
    actions: list[str]
    person_id: str
    issued_at: str
    expires_at: str
    # the county's seconds per action (`[face] action_seconds`): how long the device shows each
    seconds_per_action: int | None = None


class LivenessOut(BaseModel):
    passed: bool
    reasons: list[str]


class ReceiptRefOut(BaseModel):
    receipt_id: str
    code: str


class CertificationOut(BaseModel):
    """A certification's answer; a field answer may carry more (the location check)."""

    model_config = ConfigDict(extra="allow")

    certification_id: str
    person_id: str
    channel: str
    outcome: str
    certified_on: str
    distance: float | None
    reasons: list[str]
    liveness: LivenessOut | None
    valid_until: str | None
    receipt: ReceiptRefOut | None


class PaymentOut(BaseModel):
    period: str
    paid_on: str
    months: int
    basic_fen: int
    account_fen: int
    arrears_fen: int
    total_fen: int
    status: str


class PaymentsOut(BaseModel):
    person_id: str
    payments: list[PaymentOut]


class LastCertificationOut(BaseModel):
    certified_on: str
    channel: str
    valid_until: str | None


class WorkPersonOut(BaseModel):
    person_id: str
    name: str
    id_number: str
    id_number_masked: str
    birth_date: str
    gender: str
    village_code: str
    village_name: str
    address: str
    phone: str | None
    homebound: bool
    status: str
    due_state: str
    # medium silent evidence since the last certification (services/silent_cert.field_hint)
    silent_evidence: dict[str, Any] | None = None
    last_certification: LastCertificationOut | None
    face_template: str | None


class WorkVillageOut(BaseModel):
    code: str
    name: str
    township: str


class WorklistOut(BaseModel):
    generated_at: str
    today: str
    worker: str
    villages: list[WorkVillageOut]
    persons: list[WorkPersonOut]


class LocationOut(BaseModel):
    latitude: float
    longitude: float | None
    accuracy_m: float | None


class VisitOut(BaseModel):
    visit_id: str
    person_id: str
    outcome: str
    recorded_on: str
    review_case_id: str | None
    location: LocationOut | None


class AttachmentsOut(BaseModel):
    client_id: str
    person_id: str
    documents: int
    attestation: bool
    attestation_document_id: str
    document_ids: list[str]


class HealthOut(BaseModel):
    """GET /healthz: `ok` with the database's dialect, or 503 `unavailable`."""

    status: str
    database: str | None = None
    detail: str | None = None


class ReceiptCheckOut(BaseModel):
    """GET /receipts/verify: `genuine: false` alone for anything not genuine; a genuine code
    also says what it certifies and where the person stands now (only the keys that apply
    are sent)."""

    genuine: bool
    receipt_id: str | None = None
    what: str | None = None
    on: str | None = None
    person: str | None = None
    status: str | None = None  # valid | expired | person_deceased | revoked
    message: str | None = None
    valid_until: str | None = None


class FaceVerifyOut(BaseModel):
    """POST /persons/{id}/face/verify: the engine's decision on one photo."""

    outcome: str  # passed | referred | failed
    distance: float | None
    gallery_size: int | None = None  # the enrolled faces the decision used
    reasons: list[str]


class FaceEnrolOut(BaseModel):
    """POST /persons/{id}/face: the template kept, and whether it is held as a duplicate."""

    template_id: str
    enrolment_id: str | None = None
    gallery_size: int | None = None  # the person's enrolled faces after this enrolment
    quality: float
    accepted: bool
    duplicates: list[Any]
    review_case_id: str | None
    photos: list[dict[str, Any]]  # per uploaded photo: used or not, and why
