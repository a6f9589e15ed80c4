"""Request and response bodies of the HTTP API (pure pydantic: the apps' client imports them)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, model_validator

from backend.validation import StrictChecked, Text

Role = Literal["admin", "clerk", "reviewer", "field_worker", "auditor"]
Fen = StrictInt  # integer fen only: 100.0 or "100" is refused


class Strict(StrictChecked):
    """A request body: unknown fields refused; every text and date checked (backend/validation)."""


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: str


class UserIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    role: Role
    villages: list[str] = Field(default_factory=list, max_length=500)


class UserOut(BaseModel):
    username: str
    role: str
    villages: list[str]


class UnlockOut(BaseModel):
    """POST /users/{username}/unlock: the sign-in lockout lifted, and how many failed
    attempts were cleared with it."""

    username: str
    cleared_attempts: int


# base64 of a raw 32-byte Ed25519 public key (44 characters with its padding)
PUBLIC_KEY_PATTERN = r"^[A-Za-z0-9+/]{43}=$"


class DeviceIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["kiosk", "field"]
    location: str = Field(default="", max_length=200)
    # signed captures: the Ed25519 public key the device made (its private key stays there)
    public_key: str | None = Field(default=None, pattern=PUBLIC_KEY_PATTERN)


class PublicKeyIn(Strict):
    public_key: str = Field(pattern=PUBLIC_KEY_PATTERN)


class DeviceOut(BaseModel):
    device_id: str
    name: str
    kind: str
    location: str
    active: bool = True
    public_key: str | None = None
    key_id: str | None = None
    token: str | None = None  # shown once, at registration


class VillageIn(Strict):
    code: str = Field(min_length=1, max_length=24, pattern=r"^[0-9A-Za-z_-]+$")
    name: str = Field(min_length=1, max_length=100)
    township: str = Field(default="", max_length=100)
    # the village's location, WGS-84 degrees (both or neither): home for the location check
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> VillageIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class VillagePatchIn(Strict):
    """What to change in a village; fields left out stay as they are. The coordinates move
    together: both, or both null to remove the location (the location check is then off)."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    township: str | None = Field(default=None, max_length=100)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _complete(self) -> VillagePatchIn:
        given = self.model_fields_set
        if not given:
            raise ValueError("nothing to change: give name, township or latitude and longitude")
        for required in ("name", "township"):
            if required in given and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        if ("latitude" in given) != ("longitude" in given) or (self.latitude is None) != (
            self.longitude is None
        ):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class VillageOut(BaseModel):
    code: str
    name: str
    township: str
    latitude: float | None = None
    longitude: float | None = None


class PersonIn(Strict):
    id_number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)
    village_code: str = Field(min_length=1, max_length=24)
    enrolled_on: date
    phone: str | None = Field(default=None, max_length=30)
    household_id: str | None = Field(default=None, max_length=40)
    parent_person_ids: list[str] = Field(default_factory=list, max_length=10)
    student: StrictBool = False
    urban_employee_pension: StrictBool = False
    severely_disabled: StrictBool = False
    homebound: StrictBool = False
    birth_date: date | None = None
    gender: Literal["male", "female"] | None = None


class PersonCreated(BaseModel):
    person_id: str
    birth_date: date
    gender: str
    status: str
    id_number_masked: str


class PersonOut(BaseModel):
    person_id: str
    id_number: str  # masked unless the caller's role needs the full number
    id_number_masked: str
    old_id_number: str | None = None
    name: str
    birth_date: date
    gender: str
    village_code: str
    phone: str | None
    household_id: str | None
    parent_person_ids: list[str]
    student: bool
    urban_employee_pension: bool
    severely_disabled: bool
    homebound: bool
    enrolled_on: date
    status: str


class PersonChangeIn(Strict):
    reason: Text = Field(min_length=1, max_length=500)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    village_code: str | None = Field(default=None, max_length=24)
    household_id: str | None = Field(default=None, max_length=40)
    severely_disabled: StrictBool | None = None
    homebound: StrictBool | None = None


class ReasonIn(Strict):
    reason: Text = Field(min_length=1, max_length=500)


class CancelIn(ReasonIn):
    cancelled_on: date


class ChangeOut(BaseModel):
    field: str
    old_value: str | None
    new_value: str | None
    reason: str
    changed_by: str
    changed_at: str


class ContributionIn(Strict):
    person_id: str = Field(min_length=1, max_length=32)
    year: StrictInt = Field(ge=1900, le=2200)
    personal_fen: Fen = Field(ge=0, le=10_000_000)
    collective_fen: Fen = Field(default=0, ge=0, le=10_000_000)
    other_fen: Fen = Field(default=0, ge=0, le=10_000_000)
    paid_on: date
    kind: Literal["normal", "back_payment", "on_behalf"] = "normal"


class ContributionOut(BaseModel):
    contribution_id: str
    person_id: str
    year: int
    kind: str
    tier_fen: int
    personal_fen: int
    collective_fen: int
    other_fen: int
    government_fen: int
    balance_fen: int
    paid_on: date
    reversed: bool = False


class AccountEntry(BaseModel):
    on: date
    kind: str
    bucket: str
    amount_fen: int
    operation: str
    posting_id: str


class Buckets(BaseModel):
    personal_fen: int
    collective_fen: int
    other_fen: int
    government_fen: int


class AccountOut(BaseModel):
    person_id: str
    balance_fen: int
    buckets: Buckets
    entries: list[AccountEntry]


class InterestRunIn(Strict):
    year: StrictInt = Field(ge=1900, le=2200)


class InterestRunOut(BaseModel):
    year: int
    accounts: int
    total_fen: int


class ImportOut(BaseModel):
    batch_id: str
    rows: int
    posted: int
    already_posted: int
    total_fen: int


class LedgerCheckOut(BaseModel):
    ok: bool
    accounts: int
    transfers: int
    total_debits_fen: int
    total_credits_fen: int
    breaches: list[str]
    returned_fen: int = 0  # returned by the bank (docs/payments.md)
    reissued_fen: int = 0  # re-issued from returned:payments
    to_estate_fen: int = 0  # returned to a deceased holder, settled to heirs / recovery
