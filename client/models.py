"""The request and response models of the routes the apps call (/work/shared/API.md).

Answers are parsed leniently (unknown fields ignored: the backend may add fields at any time);
requests the client builds itself are strict. Dates travel as ISO text and are kept as such
where the apps only show them, parsed where they compute with them.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator


class Answer(BaseModel):
    """Base of every answer model: fields the backend adds later are ignored."""

    model_config = ConfigDict(extra="ignore")


class Problem(Answer):
    """An RFC 9457 problem as the backend sends it, with its stable machine `code`."""

    type: str = "about:blank"
    title: str = ""
    status: int = 0
    detail: str = ""
    code: str = ""
    errors: list[dict[str, Any]] = Field(default_factory=list)


# --- auth ------------------------------------------------------------------------------------


class Token(Answer):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = 3600
    role: str


# --- kiosk sessions and the resident's own data ----------------------------------------------


class SessionCertification(Answer):
    valid_until: date | None = None
    due: bool = True


class KioskSession(Answer):
    """POST /kiosk/sessions: the resident session a card and a matching face open."""

    session_token: str = Field(validation_alias=AliasChoices("session_token", "session_id"))
    person_id: str
    expires_in: int = 0
    header: str = "X-Resident-Session"
    status: str = "unknown"
    name_masked: str | None = None
    id_number_masked: str | None = None
    certification: SessionCertification = Field(default_factory=SessionCertification)


class Buckets(Answer):
    personal_fen: int = 0
    collective_fen: int = 0
    other_fen: int = 0
    government_fen: int = 0


class Account(Answer):
    person_id: str = ""
    balance_fen: int
    buckets: Buckets = Field(default_factory=Buckets)


class Contribution(Answer):
    year: int
    kind: str = "normal"
    personal_fen: int = 0
    government_fen: int = 0
    collective_fen: int = 0
    other_fen: int = 0
    paid_on: date | None = None
    reversed: bool = False


class Payment(Answer):
    period: str
    total_fen: int
    basic_fen: int = 0
    account_fen: int = 0
    arrears_fen: int = 0
    status: str = "paid"
    paid_on: date | None = None


class Payments(Answer):
    person_id: str = ""
    payments: list[Payment] = Field(default_factory=list)


# --- certification ---------------------------------------------------------------------------


class Challenge(Answer):
    challenge_id: str
    nonce: str
    actions: list[str]
    person_id: str = ""
    issued_at: str = ""
    expires_at: str = ""
    seconds_per_action: float | None = None  # the county's policy (`[face] action_seconds`)


class Receipt(Answer):
    receipt_id: str
    code: str


class Liveness(Answer):
    passed: bool
    reasons: list[str] = Field(default_factory=list)


class CertificationResult(Answer):
    certification_id: str
    outcome: Literal["passed", "referred", "failed"]
    distance: float | None = None
    reasons: list[str] = Field(default_factory=list)
    valid_until: str | None = None
    receipt: Receipt | None = None
    liveness: Liveness | None = None

    @field_validator("reasons", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        """A reason may come as {code, zh, en}: the code is what a client switches on."""
        if isinstance(value, list):
            return [r.get("code", "") if isinstance(r, dict) else r for r in value]
        return value


class CertificationIn(BaseModel):
    """What a device sends for a face certification (the images travel as files)."""

    person_id: str
    challenge_id: str
    nonce: str
    evidence: str
    client_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    id_number: str | None = None
    name: str | None = None
    listed_on: str | None = None  # the work list's day: the backend says if certified since
    # made at capture time by the device's own key (client/capture.py)
    signature: str | None = None
    key_id: str | None = None  # which registered field phone's key signed


# --- the field app ---------------------------------------------------------------------------


class LastCertification(Answer):
    certified_on: str
    channel: str
    valid_until: str | None = None


class WorkPerson(Answer):
    person_id: str
    name: str
    id_number: str
    id_number_masked: str
    birth_date: str
    gender: str
    village_code: str
    village_name: str
    address: str
    phone: str | None = None
    homebound: bool = False
    status: str = "receiving"
    due_state: str = "overdue"
    last_certification: LastCertification | None = None
    face_template: str | None = None  # base64 of the engine's template bytes
    challenges: list[Challenge] = Field(default_factory=list)  # fetched ahead by the app


class Village(Answer):
    code: str
    name: str
    township: str = ""


class Worklist(Answer):
    generated_at: str
    today: str
    worker: str
    villages: list[Village] = Field(default_factory=list)
    persons: list[WorkPerson] = Field(default_factory=list)


class VisitIn(BaseModel):
    client_id: str
    person_id: str
    outcome: Literal["not_at_home", "reported_dead", "refer_failed"]
    visited_at: str
    listed_on: str | None = None
    note: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    date_of_death: str | None = None
    certification_id: str | None = None


class VisitResult(Answer):
    visit_id: str
    person_id: str
    outcome: str
    recorded_on: str
    review_case_id: str | None = None


class Attachments(Answer):
    """POST /field/visits/{client_id}/attachments: what was kept of a visit's papers."""

    model_config = ConfigDict(extra="allow")
