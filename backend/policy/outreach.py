"""Policy for reaching residents: SMS notices (`[notices]` in the policy file)."""

from __future__ import annotations

import string
from datetime import time

from pydantic import BaseModel, Field, field_validator, model_validator

# the fields each notice's template may use; a template naming any other is refused at load
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "cert_due": frozenset({"name", "valid_until", "days"}),
    "cert_overdue": frozenset({"name", "valid_until"}),
    "suspended": frozenset({"name", "from_month", "reason"}),
    "resumed_arrears": frozenset({"name", "from_month", "to_month"}),
    "payment_returned": frozenset({"name", "period", "amount"}),
}

DEFAULT_TEMPLATES = {
    "cert_due": "{name}您好：您的养老金领取资格认证将于{valid_until}到期（还有{days}天），请到村便民服务点或由工作人员上门完成认证。",
    "cert_overdue": "{name}您好：您的养老金领取资格认证已于{valid_until}到期，请尽快认证，以免暂停发放。",
    "suspended": "{name}您好：因{reason}，您的养老金自{from_month}起暂停发放。",
    "resumed_arrears": "{name}您好：您的养老金已恢复发放，{from_month}至{to_month}暂停期间的待遇将随下次发放补发。",
    "payment_returned": "{name}您好：您{period}的养老金{amount}元被银行退回，请携带存折或社保卡到乡镇社保所核对账户。",
}


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class NoticesPolicy(BaseModel):
    """SMS notices: when they may go out, how early the due notice comes, and their texts."""

    # no SMS is sent from quiet_from until quiet_until (county time, across midnight)
    quiet_from: time = time(21, 0)
    quiet_until: time = time(8, 0)
    due_days: int = Field(default=30, ge=1, le=120)
    # a "sending" claim older than this is a sender that died: another sender takes it
    # over and sends again with the same ref (the gateway answers with the first message)
    claim_timeout_minutes: int = Field(default=10, ge=1)
    max_attempts: int = Field(default=5, ge=1, le=50)
    # seconds between two background sender runs of `nongbao serve` (0: no background sender)
    sender_interval_seconds: int = Field(default=300, ge=0)
    templates: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TEMPLATES))

    @field_validator("templates")
    @classmethod
    def _templates_known(cls, v: dict[str, str]) -> dict[str, str]:
        merged = {**DEFAULT_TEMPLATES, **v}
        for kind, text in merged.items():
            allowed = TEMPLATE_FIELDS.get(kind)
            if allowed is None:
                raise ValueError(f"unknown notice kind {kind!r}; known: {sorted(TEMPLATE_FIELDS)}")
            try:
                used = template_fields(text)
            except ValueError as exc:
                raise ValueError(f"notices.templates.{kind}: {exc}") from None
            if not used <= allowed:
                raise ValueError(
                    f"notices.templates.{kind} uses {sorted(used - allowed)}; it may use {sorted(allowed)}"
                )
            if not text.strip() or len(text) > 300:
                raise ValueError(f"notices.templates.{kind} must be 1 to 300 characters")
        return merged

    def quiet_at(self, local: time) -> bool:
        """Is this county time inside the quiet hours?"""
        start, end = self.quiet_from, self.quiet_until
        if start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end


# --- scored silent certification (`[silent_certification]`) ---------------------------------


class EvidenceColumns(BaseModel):
    """The CSV header of each field in this source's files (the issuing office's own words)."""

    id_number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=40)
    observed_on: str = Field(min_length=1, max_length=40)
    reference: str = Field(min_length=1, max_length=40)


class EvidenceSource(BaseModel):
    """A kind of trace that the pensioner was alive (or, negative, that they may have died)."""

    label: str = Field(min_length=1, max_length=60)
    weight: int = Field(default=0, ge=0, le=1000)
    # a trace counts this many days after the day it was seen (a certification can be dated
    # at most a year back, so no longer)
    validity_days: int = Field(ge=1, le=365)
    negative: bool = False  # 殡葬/火化, 死亡医学证明: hold and review, never terminate
    columns: EvidenceColumns


class SilentCertificationPolicy(BaseModel):
    """Thresholds of this county: a score at or above strong_at certifies (channel
    data_match), at or above medium_at puts the person on the field work list, below does
    nothing. A score adds the weights of the distinct sources in force."""

    strong_at: int = Field(default=100, ge=1)
    medium_at: int = Field(default=50, ge=1)
    sources: dict[str, EvidenceSource] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, EvidenceSource]) -> dict[str, EvidenceSource]:
        for name in v:
            if not name.replace("_", "").isalnum() or not name.isascii() or len(name) > 30:
                raise ValueError(f"source name {name!r}: lower-case letters, digits and _")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> SilentCertificationPolicy:
        if self.medium_at > self.strong_at:
            raise ValueError("silent_certification.medium_at must not exceed strong_at")
        return self


class GrievancePolicy(BaseModel):
    """Grievances (申诉/信访): answered within this many working days (Monday to Friday)."""

    due_working_days: int = Field(default=15, ge=1, le=90)


class FamilyPolicy(BaseModel):
    """亲情认证 (`[family]` in the policy file): a family member certifies from their phone."""

    # one family phone certifies at most this many different pensioners in a certification year
    max_people_per_phone: int = Field(default=2, ge=1, le=10)
    # after a pass through the family channel, the next certification must be in person
    # (kiosk, counter) or by a field visit
    in_person_after_family: bool = True
    code_minutes: int = Field(default=5, ge=1, le=30)
    code_attempts: int = Field(default=5, ge=1, le=10)
    codes_per_hour: int = Field(default=5, ge=1, le=20)
    sign_in_days: int = Field(default=30, ge=1, le=365)
    confirmation_text: str = (
        "【农保】{name}的生存认证已通过（亲情认证），有效期到{valid_until}。凭条码：{code}"
    )
