"""Policy for reaching residents: SMS notices (`[notices]` in the policy file)."""

from __future__ import annotations

import string
from datetime import time

from pydantic import BaseModel, Field, field_validator

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
