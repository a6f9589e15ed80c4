"""Liveness challenges: issued to one caller for one person, short-lived, usable once.

A kiosk's challenge lives minutes; a field device fetches them with its work list, so
they live days. The binding is the device id for devices and the user for field workers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from backend.errors import Conflict, Forbidden, InvalidInput, RuleRefused
from backend.models import Challenge, utcnow
from backend.services import audit, face_engine, registry
from backend.services.context import Actor, Ctx

KIOSK_ROLES = ("kiosk", "family")  # a challenge valid for minutes: the person is there


def binding_of(actor: Actor) -> str:
    return actor.device_id if actor.device_id else f"user:{actor.name}"[:40]


def _ttl(ctx: Ctx) -> timedelta:
    face = ctx.policy.face
    if ctx.actor.role in KIOSK_ROLES:
        return timedelta(minutes=face.kiosk_challenge_minutes)
    return timedelta(days=face.field_challenge_days)


def issue(ctx: Ctx, person_id: str) -> Challenge:
    person = registry.get(ctx, person_id)
    if ctx.actor.role == "field_worker" and person.village_code not in ctx.actor.villages:
        raise Forbidden("this person is not in one of your villages", code="not_assigned")
    if ctx.actor.role == "family":
        from backend.services import family  # family -> auth -> ... : imported when used

        family.check_may_certify(ctx, person.id)
    now = utcnow()
    ttl = _ttl(ctx)
    challenge_id, nonce, actions = face_engine.new_challenge(
        ttl.total_seconds(), now.timestamp(), ctx.policy.face.challenge_actions
    )
    row = Challenge(
        id=challenge_id,
        person_id=person_id,
        device_id=binding_of(ctx.actor),
        nonce=nonce,
        actions=json.dumps(actions),
        expires_at=now + ttl,
        created_at=now,
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, "challenge.issue", person_id, after={"challenge_id": row.id})
    return row


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _usable(ctx: Ctx, row: Challenge | None, nonce: str, person_id: str | None) -> Challenge:
    if row is None or row.nonce != nonce:
        raise InvalidInput(
            "unknown challenge or wrong nonce",
            errors=[{"field": "nonce", "message": "not a challenge issued by this server"}],
        )
    if row.device_id != binding_of(ctx.actor):
        raise Forbidden("this challenge was issued to another device")
    if person_id is not None and row.person_id != person_id:
        raise InvalidInput(
            "this challenge was issued for another person",
            errors=[{"field": "challenge_id", "message": "issued for another person"}],
        )
    if row.used_at is not None:
        raise Conflict("this challenge was already used: request a new one")
    if _aware(row.expires_at) < utcnow():
        raise RuleRefused("this challenge has expired: request a new one", code="challenge_expired")
    return row


def check(ctx: Ctx, challenge_id: str, nonce: str) -> None:
    """Refuse an unknown, foreign, used or expired challenge cheaply, before any face work
    (a read without a lock: `consume` checks again under the lock and uses it up)."""
    _usable(ctx, ctx.session.get(Challenge, challenge_id), nonce, None)


def consume(ctx: Ctx, challenge_id: str, nonce: str, person_id: str) -> Challenge:
    """Check and use up a challenge, row-locked so two submissions cannot both use it."""
    # populate_existing: `check` may have loaded the row earlier in this request; read it
    # again under the lock, or a concurrent use would go unseen
    row = ctx.session.exec(
        select(Challenge)
        .where(Challenge.id == challenge_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    row = _usable(ctx, row, nonce, person_id)
    row.used_at = utcnow()
    ctx.session.add(row)
    ctx.session.flush()
    return row


def out(row: Challenge, seconds_per_action: int | None = None) -> dict[str, object]:
    """The challenge as answered; `seconds_per_action` (the county's policy) tells the device
    how long each action may take, for its countdown."""
    return {
        "seconds_per_action": seconds_per_action,
        "challenge_id": row.id,
        "nonce": row.nonce,
        "actions": json.loads(row.actions),
        "person_id": row.person_id,
        "issued_at": _aware(row.created_at).isoformat(),
        "expires_at": _aware(row.expires_at).isoformat(),
    }
