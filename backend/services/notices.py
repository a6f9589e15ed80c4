"""SMS notices to residents: an outbox, filled by events and sent by a sender.

Filling (inside the caller's transaction, so a notice commits with its event or not at all):
* `plan(ctx)` scans for certifications due within `notices.due_days`, overdue ones, new
  suspensions and suspensions lifted with arrears;
* `notify_payment_returned(ctx, person_id, ref=, period=, amount_fen=)` is called by the bank
  return feature.
Each notice has an `event_key` that the database keeps unique: the same event queues one
notice, ever, however often or in parallel it is planned.

Sending (`send_pending`, its own short transactions): a sender claims a notice by a
conditional UPDATE (pending -> sending); only the one whose UPDATE changed the row sends it.
It sends with ref = the notice id, so a sender that died after the gateway accepted the
message and before recording it is harmless: the notice is claimed again after
`claim_timeout_minutes` and the gateway answers the repeated ref with the first message.
Nothing is sent inside the quiet hours (county time, by the product clock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend import clock, ledger
from backend.answers_notices import FamilyContactOut, NoticeOut, NoticePlanOut
from backend.crypto import Keyring
from backend.db import session_scope
from backend.errors import field_error
from backend.models import FamilyContact, Person, SmsNotice, Suspension
from backend.money import yuan
from backend.policy import Policy
from backend.services import audit, family, registry
from backend.services.certification_status import latest_valid
from backend.services.context import Ctx
from backend.sms import DeliveryReceipt, SmsGateway, SmsRejected, SmsUnavailable

PENSIONER_STATUSES = ("receiving", "suspended")
RELATIONS = ("spouse", "child", "grandchild", "sibling", "other")
# suspended and lifted suspensions older than this are history, not news (a first run of the
# planner after installation does not text every pensioner suspended years ago)
LOOK_BACK_DAYS = 45
SUSPENSION_REASON_TEXT = {
    "certification_lapsed": "未按期完成资格认证",
    "family_binding": "家庭成员未按规定参保缴费",
    "investigation": "待遇核查",
    "duplicate_id_number": "身份信息需要核对",
    "manual": "经办机构核查",
}


# --- family contacts -----------------------------------------------------------------------


def add_family_contact(
    ctx: Ctx,
    person_id: str,
    *,
    name: str,
    relation: str,
    phone: str,
    receives_notices: bool = False,
) -> FamilyContact:
    person = registry.get(ctx, person_id)
    registry.check_village_scope(ctx, person)
    if relation not in RELATIONS:
        raise field_error("relation", f"relation is one of {', '.join(RELATIONS)}")
    phone = family.normalise_phone(phone)  # full-width digits, spaces: the same number
    if not name.strip() or len(name) > 100:
        raise field_error("name", "name the family member (at most 100 characters)")
    contact_id = ledger.new_id("fam")[:40]
    contact = FamilyContact(
        id=contact_id,
        person_id=person.id,
        name=name.strip(),
        relation=relation,
        phone_enc=ctx.keyring.encrypt_text(phone, contact_id),
        phone_hash=family.phone_hash(ctx.keyring, phone),
        receives_notices=receives_notices,
        created_by=ctx.actor.label,
    )
    if receives_notices:  # one family number receives the notices, not several
        for other in _contacts(ctx, person.id):
            other.receives_notices = False
            ctx.session.add(other)
    ctx.session.add(contact)
    ctx.session.flush()
    audit.record(
        ctx, "family_contact.add", person.id, after={"contact_id": contact_id, "relation": relation}
    )
    return contact


def _contacts(ctx: Ctx, person_id: str) -> list[FamilyContact]:
    return list(
        ctx.session.exec(
            select(FamilyContact)
            .where(FamilyContact.person_id == person_id, col(FamilyContact.active).is_(True))
            .order_by(col(FamilyContact.created_at), col(FamilyContact.id))
        ).all()
    )


def family_contacts(ctx: Ctx, person_id: str) -> list[FamilyContactOut]:
    registry.get(ctx, person_id)
    return [
        FamilyContactOut(
            contact_id=c.id,
            name=c.name,
            relation=c.relation,
            phone=registry.mask_phone(ctx.keyring.decrypt_text(c.phone_enc, c.id)),
            receives_notices=c.receives_notices,
        )
        for c in _contacts(ctx, person_id)
    ]


def _recipient(ctx: Ctx, person: Person) -> tuple[str, str | None]:
    """Who gets a person's notices: a family member who asked to, else the pensioner, else
    any registered family member, else nobody (the notice is kept as `no_recipient`)."""
    contacts = _contacts(ctx, person.id)
    chosen = next((c for c in contacts if c.receives_notices), None)
    if chosen is None:
        own = registry.phone_of(ctx, person)
        if own:
            return "self", own
        chosen = contacts[0] if contacts else None
    if chosen is None:
        return "none", None
    return f"family:{chosen.id}", ctx.keyring.decrypt_text(chosen.phone_enc, chosen.id)


# --- filling the outbox --------------------------------------------------------------------


def enqueue(
    ctx: Ctx, person: Person, kind: str, event_key: str, fields: dict[str, Any]
) -> SmsNotice | None:
    """Queue one notice for an event; None if this event's notice exists already."""
    if ctx.session.exec(select(SmsNotice.id).where(SmsNotice.event_key == event_key)).first():
        return None
    template = ctx.policy.notices.templates[kind]
    text = template.format_map({"name": person.name, **fields})
    notice_id = ledger.new_id("sms")[:40]
    recipient, phone = _recipient(ctx, person)
    notice = SmsNotice(
        id=notice_id,
        person_id=person.id,
        kind=kind,
        event_key=event_key,
        recipient=recipient,
        phone_enc=ctx.keyring.encrypt_text(phone, notice_id) if phone else None,
        text=text,
        status="pending" if phone else "no_recipient",
    )
    try:
        # a savepoint: a parallel planner that queued the same event first wins, and this
        # transaction (the caller's event) goes on without the duplicate
        with ctx.session.begin_nested():
            ctx.session.add(notice)
    except IntegrityError:
        return None
    return notice


def notify_payment_returned(
    ctx: Ctx, person_id: str, *, ref: str, period: str, amount_fen: int
) -> SmsNotice | None:
    """The bank returned a payment (`ref`: the bank's return reference, unique per return)."""
    if not ref or len(ref) > 80:
        raise field_error("ref", "the return's reference is 1 to 80 characters")
    if amount_fen <= 0:
        raise field_error("amount_fen", "a returned amount is a positive number of fen")
    person = registry.get(ctx, person_id)
    fields = {"period": period, "amount": yuan(amount_fen)}
    return enqueue(ctx, person, "payment_returned", f"payment_returned:{ref}", fields)


def plan(ctx: Ctx) -> NoticePlanOut:
    """Queue every notice that today's state calls for and that is not queued yet."""
    counts = dict.fromkeys(ctx.policy.notices.templates, 0)
    pensioners = ctx.session.exec(
        select(Person).where(col(Person.status).in_(PENSIONER_STATUSES)).order_by(Person.id)
    ).all()
    for person in pensioners:
        kind_key = _certification_event(ctx, person)
        if kind_key is not None:
            kind, key, fields = kind_key
            counts[kind] += enqueue(ctx, person, kind, key, fields) is not None
    since = clock.now() - timedelta(days=LOOK_BACK_DAYS)
    for sus, person in _suspension_events(ctx, since):
        if sus.lifted_at is None:
            fields = {
                "from_month": sus.from_month,
                "reason": SUSPENSION_REASON_TEXT.get(sus.reason, "待遇核查"),
            }
            counts["suspended"] += (
                enqueue(ctx, person, "suspended", f"suspended:{sus.id}", fields) is not None
            )
        elif sus.arrears and _aware(sus.lifted_at) >= since:
            fields = {"from_month": sus.from_month, "to_month": sus.to_month or sus.from_month}
            counts["resumed_arrears"] += (
                enqueue(ctx, person, "resumed_arrears", f"resumed:{sus.id}", fields) is not None
            )
    return NoticePlanOut(**counts)


def _certification_event(ctx: Ctx, person: Person) -> tuple[str, str, dict[str, Any]] | None:
    valid = latest_valid(ctx, person.id, ctx.today)
    until = valid.valid_until if valid else None
    if until is None:
        return None
    days = (until - ctx.today).days
    if 0 <= days <= ctx.policy.notices.due_days:
        fields: dict[str, Any] = {"valid_until": _day(until), "days": days}
        return "cert_due", f"cert_due:{person.id}:{until.isoformat()}", fields
    if days < 0 and -days <= LOOK_BACK_DAYS:
        return (
            "cert_overdue",
            f"cert_overdue:{person.id}:{until.isoformat()}",
            {"valid_until": _day(until)},
        )
    return None


def _suspension_events(ctx: Ctx, since: datetime) -> list[tuple[Suspension, Person]]:
    rows = ctx.session.exec(
        select(Suspension, Person)
        .join(Person, col(Person.id) == col(Suspension.person_id))
        .where(
            sa.or_(
                sa.and_(col(Suspension.lifted_at).is_(None), col(Suspension.created_at) >= since),
                col(Suspension.lifted_at) >= since,
            )
        )
        .order_by(col(Suspension.created_at), col(Suspension.id))
    ).all()
    return [(s, p) for s, p in rows]


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes (stored as UTC)
    return at if at.tzinfo else at.replace(tzinfo=clock.now().tzinfo)


# --- sending -------------------------------------------------------------------------------


@dataclass
class SendResult:
    quiet_hours: bool = False
    sent: int = 0
    rejected: int = 0
    retry_later: int = 0
    skipped: int = 0  # claimed by another sender meanwhile
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "quiet_hours": self.quiet_hours,
            "sent": self.sent,
            "rejected": self.rejected,
            "retry_later": self.retry_later,
            "skipped": self.skipped,
        }


def in_quiet_hours(policy: Policy) -> bool:
    return policy.notices.quiet_at(clock.local_now().time())


def send_pending(
    engine: Engine,
    keyring: Keyring,
    policy: Policy,
    gateway: SmsGateway,
    *,
    sender: str,
    limit: int = 200,
) -> SendResult:
    result = SendResult()
    if in_quiet_hours(policy):
        result.quiet_hours = True
        return result
    for notice_id in _candidates(engine, policy, limit):
        claimed = _claim(engine, keyring, policy, notice_id, sender)
        if claimed is None:
            result.skipped += 1
            continue
        phone, text, attempts = claimed
        try:
            message_id = gateway.send(phone, text, ref=notice_id)
        except SmsRejected as exc:
            _finish(engine, notice_id, sender, status="rejected", error=str(exc))
            result.rejected += 1
        except SmsUnavailable as exc:
            final = attempts >= policy.notices.max_attempts
            _finish(
                engine, notice_id, sender, status="failed" if final else "pending", error=str(exc)
            )
            result.retry_later += not final
            result.errors.append(str(exc))
        else:
            _finish(engine, notice_id, sender, status="sent", message_id=message_id)
            result.sent += 1
    return result


def _stale_before(policy: Policy) -> datetime:
    return clock.now() - timedelta(minutes=policy.notices.claim_timeout_minutes)


def _claimable(policy: Policy) -> Any:
    return sa.or_(
        col(SmsNotice.status) == "pending",
        sa.and_(
            col(SmsNotice.status) == "sending", col(SmsNotice.claimed_at) < _stale_before(policy)
        ),
    )


def _candidates(engine: Engine, policy: Policy, limit: int) -> list[str]:
    with session_scope(engine) as s:
        return list(
            s.exec(
                select(SmsNotice.id)
                .where(_claimable(policy))
                .order_by(col(SmsNotice.created_at), col(SmsNotice.id))
                .limit(limit)
            ).all()
        )


def _claim(
    engine: Engine, keyring: Keyring, policy: Policy, notice_id: str, sender: str
) -> tuple[str, str, int] | None:
    """pending -> sending for this sender; None if another sender changed the row first."""
    with session_scope(engine) as s:
        changed = s.execute(
            sa.update(SmsNotice)
            .where(col(SmsNotice.id) == notice_id, _claimable(policy))
            .values(
                status="sending",
                claimed_by=sender,
                claimed_at=clock.now(),
                attempts=col(SmsNotice.attempts) + 1,
            )
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        notice = s.get(SmsNotice, notice_id)
        assert notice is not None and notice.phone_enc is not None
        return keyring.decrypt_text(notice.phone_enc, notice.id), notice.text, notice.attempts


def _finish(
    engine: Engine,
    notice_id: str,
    sender: str,
    *,
    status: str,
    message_id: str | None = None,
    error: str | None = None,
) -> None:
    """Record the send's outcome, unless a delivery receipt got there first or another
    sender took the claim over."""
    values: dict[str, Any] = {"status": status, "last_error": (error or None) and error[:200]}
    if message_id:
        values.update(message_id=message_id, sent_at=clock.now())
    with session_scope(engine) as s:
        s.execute(
            sa.update(SmsNotice)
            .where(
                col(SmsNotice.id) == notice_id,
                col(SmsNotice.status) == "sending",
                col(SmsNotice.claimed_by) == sender,
            )
            .values(**values)
        )


# --- delivery receipts ---------------------------------------------------------------------


def apply_receipt(ctx: Ctx, receipt: DeliveryReceipt) -> bool:
    """A gateway's delivery receipt: the notice (ref = its id) is delivered or failed. A
    repeated receipt changes nothing; False if no such notice."""
    notice = ctx.session.get(SmsNotice, receipt.ref)
    if notice is None or (notice.message_id and notice.message_id != receipt.message_id):
        return False
    if notice.status in ("delivered", "failed") and notice.message_id == receipt.message_id:
        return True
    notice.status = receipt.status
    notice.message_id = receipt.message_id
    notice.sent_at = notice.sent_at or clock.now()
    if receipt.status == "delivered":
        notice.delivered_at = clock.now()
    else:
        notice.last_error = "the gateway could not deliver the message"
    ctx.session.add(notice)
    audit.record(ctx, "sms.receipt", notice.id, after={"status": receipt.status})
    return True


def sync_receipts(ctx: Ctx, gateway: SmsGateway) -> int:
    """Poll the gateway's receipts (for a gateway that cannot reach our callback)."""
    return sum(apply_receipt(ctx, r) for r in gateway.receipts())


# --- reading -------------------------------------------------------------------------------


def for_person(ctx: Ctx, person_id: str) -> list[NoticeOut]:
    registry.get(ctx, person_id)
    rows = ctx.session.exec(
        select(SmsNotice)
        .where(SmsNotice.person_id == person_id)
        .order_by(col(SmsNotice.created_at).desc(), col(SmsNotice.id))
    ).all()
    return [_out(ctx, n) for n in rows]


def _out(ctx: Ctx, n: SmsNotice) -> NoticeOut:
    phone = ctx.keyring.decrypt_text(n.phone_enc, n.id) if n.phone_enc else None
    return NoticeOut(
        notice_id=n.id,
        kind=n.kind,
        recipient=n.recipient,
        phone=registry.mask_phone(phone),
        text=n.text,
        status=n.status,
        attempts=n.attempts,
        last_error=n.last_error,
        created_at=n.created_at.isoformat(),
        sent_at=n.sent_at.isoformat() if n.sent_at else None,
        delivered_at=n.delivered_at.isoformat() if n.delivered_at else None,
    )


# --- one round: what `nongbao notices send` and serve's background sender run ---------------


def run_once(
    engine: Engine, keyring: Keyring, policy: Policy, gateway: SmsGateway, *, sender: str
) -> dict[str, Any]:
    """Plan (one transaction), send the outbox, then read the gateway's receipts."""
    from backend.services.context import SYSTEM, Ctx

    with session_scope(engine) as s:
        planned = plan(Ctx(session=s, policy=policy, keyring=keyring, actor=SYSTEM))
    result = send_pending(engine, keyring, policy, gateway, sender=sender)
    receipts = 0
    try:
        with session_scope(engine) as s:
            receipts = sync_receipts(
                Ctx(session=s, policy=policy, keyring=keyring, actor=SYSTEM), gateway
            )
    except (SmsUnavailable, SmsRejected):
        pass  # receipts come again on the next round (or by the callback)
    return {"planned": planned.model_dump(), **result.as_dict(), "receipts": receipts}
