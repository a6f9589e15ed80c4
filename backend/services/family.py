"""亲情认证: a registered family member certifies an elderly parent from their own phone.

The phone signs in with a one-time SMS code and registers the browser's own Ed25519 key
(made non-extractable by WebCrypto on the phone): from then on it is a device of kind
"family", whose token carries the role `family` and whose captures must be signed by that
key, exactly like a kiosk's. The certification itself is the kiosk's: same challenge, same
server-side liveness and face decision, channel `family`.

Fraud controls (policy `[family]`):
- a phone certifies only the pensioners whose registered family contact has its number;
- one phone certifies at most `max_people_per_phone` different pensioners a year;
- after a family-channel pass, the next certification must be in person or by a field visit;
- codes: hashed, `code_minutes` valid, `code_attempts` tries, `codes_per_hour` per number.

No phone number is stored in clear: contacts keep it sealed plus a keyed lookup hash
(purpose "family_phone"); codes and sign-ins are keyed by that hash.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from backend import clock, idnumber
from backend.crypto import Keyring
from backend.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, field_error
from backend.ledger import new_id
from backend.models import (
    Certification,
    Device,
    FamilyCode,
    FamilyContact,
    FamilyPhone,
    Person,
    SmsNotice,
)
from backend.services import audit, auth, registry
from backend.services.certification_status import latest_valid
from backend.services.context import Ctx
from backend.sms import PHONE_RE

CERTIFIABLE_STATUSES = ("enrolled", "receiving", "suspended")
IN_PERSON_CHANNELS = ("kiosk", "field", "counter", "award")
LOCATION_PREFIX = "family_phone:"  # Device.location of a family device: whose phone it is
YEAR = timedelta(days=365)
CODE_DIGITS = 6


def too_many_codes(limit: int) -> TooManyRequests:
    return TooManyRequests(
        f"at most {limit} codes an hour go to one number: try again later",
        retry_after=3600,
        code="too_many_codes",
    )


def normalise_phone(raw: str) -> str:
    """Digits as a person types them (full-width too, spaces and dashes allowed) → ASCII;
    anything else is refused."""
    text = unicodedata.normalize("NFKC", raw).strip().replace(" ", "").replace("-", "")
    if not PHONE_RE.match(text) or not text.lstrip("+").isascii():
        raise field_error("phone", "a phone number is 5 to 20 digits, optionally after +")
    return text


def ascii_digits(raw: str) -> str:
    """A code as typed (full-width digits too) in ASCII digits."""
    return unicodedata.normalize("NFKC", raw).strip()


def phone_hash(keyring: Keyring, phone: str) -> str:
    return keyring.lookup_hash(normalise_phone(phone), "family_phone")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _code_hash(keyring: Keyring, hashed_phone: str, code: str) -> str:
    return keyring.lookup_hash(f"{hashed_phone}:{code}", "family_code")


def _contacts_of(session: Session, hashed_phone: str) -> list[FamilyContact]:
    return list(
        session.exec(
            select(FamilyContact)
            .where(FamilyContact.phone_hash == hashed_phone, col(FamilyContact.active).is_(True))
            .order_by(col(FamilyContact.created_at), col(FamilyContact.id))
        ).all()
    )


# --- signing in --------------------------------------------------------------------------


def request_code(ctx: Ctx, phone: str) -> str | None:
    """Make a sign-in code for a registered family number and return it for the SMS (None
    for a number no pensioner registered: the caller answers the same either way, so the
    page cannot be used to find out who is registered). Codes per number are limited."""
    hashed = phone_hash(ctx.keyring, phone)
    policy = ctx.policy.family
    now = clock.now()
    recent = ctx.session.exec(
        select(sa.func.count())
        .select_from(FamilyCode)
        .where(FamilyCode.phone_hash == hashed, FamilyCode.created_at > now - timedelta(hours=1))
    ).one()
    if recent >= policy.codes_per_hour:
        raise too_many_codes(policy.codes_per_hour)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    ctx.session.add(
        FamilyCode(
            id=new_id("fcd")[:40],
            phone_hash=hashed,
            code_hash=_code_hash(ctx.keyring, hashed, code),
            expires_at=now + timedelta(minutes=policy.code_minutes),
            created_at=now,
        )
    )
    ctx.session.flush()
    contacts = _contacts_of(ctx.session, hashed)
    for contact in contacts:
        audit.record(ctx, "family.code", contact.person_id, after={"contact_id": contact.id})
    return code if contacts else None


def code_text(ctx: Ctx, code: str) -> str:
    minutes = ctx.policy.family.code_minutes
    return f"【农保】亲情认证登录验证码：{code}，{minutes}分钟内有效。请勿告诉他人。"


def count_attempt(engine: Engine, keyring: Keyring, phone: str, limit: int) -> str | None:
    """Spend one try of the number's newest live code, in its own committed transaction
    (a wrong code must cost a try even though its request then fails). The code's id, or
    None when there is no live code with tries left."""
    from backend.db import session_scope

    hashed = phone_hash(keyring, phone)
    now = clock.now()
    with session_scope(engine) as s:
        row = s.exec(
            select(FamilyCode)
            .where(
                FamilyCode.phone_hash == hashed,
                col(FamilyCode.used_at).is_(None),
                FamilyCode.expires_at > now,
            )
            .order_by(col(FamilyCode.created_at).desc(), col(FamilyCode.id).desc())
        ).first()
        if row is None:
            return None
        table = FamilyCode.__table__
        spent = s.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
            sa.update(table)
            .where(table.c.id == row.id, table.c.attempts < limit)
            .values(attempts=table.c.attempts + 1)
        ).rowcount
        return row.id if spent == 1 else None


@dataclass
class SignIn:
    token: str
    until: datetime
    device_id: str


def sign_in(ctx: Ctx, code_id: str | None, phone: str, code: str, public_key: str) -> SignIn:
    """Check the code whose try was counted, then register this browser's key as the
    number's one family device (an earlier one is revoked)."""
    hashed = phone_hash(ctx.keyring, phone)
    row = ctx.session.get(FamilyCode, code_id) if code_id else None
    wrong = Unauthorized("the code is wrong or has expired: ask for a new one", code="bad_code")
    if row is None or row.used_at is not None:
        raise wrong
    if not secrets.compare_digest(row.code_hash, _code_hash(ctx.keyring, hashed, code.strip())):
        raise wrong
    contacts = _contacts_of(ctx.session, hashed)
    if not contacts:
        raise wrong  # no pensioner registered this number: the same answer as a wrong code
    now = clock.now()
    row.used_at = now
    ctx.session.add(row)
    device, token = auth.register_device(
        ctx.session,
        f"亲情认证 {hashed[:8]}",
        "family",
        f"{LOCATION_PREFIX}{hashed}",
        public_key,
        self_registered=True,
    )
    phone_row = ctx.session.get(FamilyPhone, hashed)
    if phone_row is None:
        phone_row = FamilyPhone(phone_hash=hashed, created_at=now)
    elif phone_row.device_id:
        auth.revoke_device(ctx.session, phone_row.device_id)
    until = now + timedelta(days=ctx.policy.family.sign_in_days)
    phone_row.device_id, phone_row.signed_in_until = device.id, until
    ctx.session.add(phone_row)
    ctx.session.flush()
    for contact in contacts:
        audit.record(ctx, "family.sign_in", contact.person_id, after={"device_id": device.id})
    return SignIn(token, until, device.id)


def sign_out(ctx: Ctx) -> None:
    phone_row = _phone_of(ctx)
    if ctx.actor.device_id:
        auth.revoke_device(ctx.session, ctx.actor.device_id)
    phone_row.device_id, phone_row.signed_in_until = None, None
    ctx.session.add(phone_row)
    for contact in _contacts_of(ctx.session, phone_row.phone_hash):
        audit.record(ctx, "family.sign_out", contact.person_id)


def _phone_of(ctx: Ctx) -> FamilyPhone:
    if ctx.actor.role != "family" or not ctx.actor.device_id:
        raise Forbidden("only a signed-in family phone may do this")
    row = ctx.session.exec(
        select(FamilyPhone).where(FamilyPhone.device_id == ctx.actor.device_id)
    ).first()
    if row is None:
        raise Unauthorized("this phone's sign-in has ended: sign in again with a new code")
    return row


# --- whom a phone may certify ----------------------------------------------------------------


def _last_passed(ctx: Ctx, person_id: str) -> Certification | None:
    return ctx.session.exec(
        select(Certification)
        .where(Certification.person_id == person_id, Certification.outcome == "passed")
        .order_by(col(Certification.certified_on).desc(), col(Certification.created_at).desc())
    ).first()


def _certified_by_phone(ctx: Ctx, hashed: str, since: date) -> set[str]:
    rows = ctx.session.exec(
        select(Certification.person_id)
        .join(Device, col(Device.id) == col(Certification.device_id))
        .where(
            Device.location == f"{LOCATION_PREFIX}{hashed}",
            Certification.channel == "family",
            Certification.outcome == "passed",
            Certification.certified_on > since,
        )
    ).all()
    return set(rows)


def refusal(ctx: Ctx, hashed: str, person: Person) -> str | None:
    """Why this phone may not certify this person now (a machine code), or None."""
    if person.status not in CERTIFIABLE_STATUSES:
        return "not_a_pensioner"
    policy = ctx.policy.family
    last = _last_passed(ctx, person.id)
    if policy.in_person_after_family and last is not None and last.channel == "family":
        return "in_person_required"
    others = _certified_by_phone(ctx, hashed, ctx.today - YEAR) - {person.id}
    if len(others) >= policy.max_people_per_phone:
        return "family_phone_limit"
    return None


REFUSAL_TEXT = {
    "not_a_pensioner": "此人不在领取养老金名单中",
    "in_person_required": "上次是亲情认证，这次请到村里的自助机或由工作人员上门认证",
    "family_phone_limit": "这个手机今年认证的人数已到上限",
    "not_your_family": "您没有登记为此人的亲属",
}


def _linked_person(ctx: Ctx, hashed: str, person_id: str) -> tuple[Person, FamilyContact]:
    for contact in _contacts_of(ctx.session, hashed):
        if contact.person_id == person_id:
            return registry.get(ctx, person_id), contact
    raise Forbidden(
        "this phone is not registered as a family member of this person", code="not_your_family"
    )


def check_may_certify(ctx: Ctx, person_id: str) -> None:
    """Called for the family role before a challenge is issued and before a certification
    is decided: refuse what the policy refuses, with its code."""
    hashed = _phone_of(ctx).phone_hash
    person, _ = _linked_person(ctx, hashed, person_id)
    code = refusal(ctx, hashed, person)
    if code == "in_person_required":
        raise Conflict(REFUSAL_TEXT[code], code="in_person_required")
    if code == "family_phone_limit":
        raise Conflict(REFUSAL_TEXT[code], code="family_phone_limit")
    if code is not None:
        raise Conflict(REFUSAL_TEXT[code], code="not_a_pensioner")


def pensioners(ctx: Ctx) -> list[dict[str, Any]]:
    hashed = _phone_of(ctx).phone_hash
    out: list[dict[str, Any]] = []
    for contact in _contacts_of(ctx.session, hashed):
        person = ctx.session.get(Person, contact.person_id)
        if person is None:
            continue
        valid = latest_valid(ctx, person.id, ctx.today)
        code = refusal(ctx, hashed, person)
        out.append(
            {
                "person_id": person.id,
                "name": idnumber.mask_name(person.name),
                "relation": contact.relation,
                "valid_until": valid.valid_until.isoformat()
                if valid and valid.valid_until
                else None,
                "may_certify": code is None,
                "refusal_code": code,
                "refusal": REFUSAL_TEXT.get(code or ""),
            }
        )
        audit.record(ctx, "family.list", person.id)
    return out


# --- after a pass ---------------------------------------------------------------------------


def confirm_by_sms(ctx: Ctx, person: Person, cert: Certification, receipt_code: str) -> None:
    """Queue the SMS that confirms a family-channel pass to the phone that made it (the
    notices sender sends it once: its event key is the certification)."""
    hashed = _phone_of(ctx).phone_hash
    _, contact = _linked_person(ctx, hashed, person.id)
    text = ctx.policy.family.confirmation_text.format_map(
        {
            "name": idnumber.mask_name(person.name),
            "valid_until": cert.valid_until.isoformat() if cert.valid_until else "",
            "code": receipt_code[-8:],
        }
    )
    notice_id = new_id("sms")[:40]
    phone = ctx.keyring.decrypt_text(contact.phone_enc, contact.id)
    ctx.session.add(
        SmsNotice(
            id=notice_id,
            person_id=person.id,
            kind="family_certified",
            event_key=f"family_certified:{cert.id}",
            recipient=f"family:{contact.id}",
            phone_enc=ctx.keyring.encrypt_text(phone, notice_id),
            text=text,
            status="pending",
        )
    )
    ctx.session.flush()
