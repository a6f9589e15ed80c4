"""The kiosk's use cases: a card and a matching face open a resident session.

The router only reads the form; what is checked, in which order, and what the kiosk is told
(masked, as client/masking.py shows it everywhere) lives here.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from backend import idnumber
from backend.errors import Forbidden
from backend.rules import certification as certification_rule
from backend.services import (
    audit,
    certification,
    certification_status,
    face_engine,
    faces,
    kiosk_sessions,
    registry,
)
from backend.services.context import Ctx


class SessionCertification(BaseModel):
    """What the kiosk's menu offers: certification is due for a pensioner not certified for
    today."""

    valid_until: date | None
    due: bool


class KioskSessionOut(BaseModel):
    session_token: str
    person_id: str
    expires_in: int
    header: str
    status: str
    name_masked: str
    id_number_masked: str
    certification: SessionCertification


def probe_face(photo: bytes) -> None:
    """The face work, before the transaction starts (the result is cached for `open_session`)."""
    face_engine.probe(photo)


def open_session(ctx: Ctx, id_number: str, name: str, photo: bytes) -> KioskSessionOut:
    """Card fields + the face photo -> a resident session; Forbidden `card_mismatch` when
    the card is not the registry's, `face_mismatch` when the face is not the holder's."""
    person, card_ok = certification.person_of(
        ctx,
        certification.Submission(
            channel="kiosk", challenge_id="", nonce="", images=(), id_number=id_number, name=name
        ),
    )
    if not card_ok:
        raise Forbidden("the card does not match the registry", code="card_mismatch")
    check = faces.verify(ctx, person.id, photo)
    if check["outcome"] != "passed":
        raise Forbidden(
            "the face does not match the card holder's enrolled face", code="face_mismatch"
        )
    token, ttl = kiosk_sessions.open_session(ctx, person.id)
    audit.record(ctx, "kiosk.session.open", person.id)
    last = certification_status.latest_valid(ctx, person.id, ctx.today)
    valid_until = last.valid_until if last else None
    return KioskSessionOut(
        session_token=token,
        person_id=person.id,
        expires_in=ttl,
        header=kiosk_sessions.HEADER,
        status=person.status,
        name_masked=idnumber.mask_name(person.name),
        id_number_masked=idnumber.mask(registry.id_number_of(ctx, person)),
        certification=SessionCertification(
            valid_until=valid_until,
            # the one definition of "due": backend/rules/certification.py
            due=person.status in ("receiving", "suspended")
            and certification_rule.is_due(ctx.policy, valid_until, ctx.today),
        ),
    )


def close_session(ctx: Ctx, token: str) -> None:
    """The token is refused from now on, on every worker (it would expire within minutes)."""
    person_id = kiosk_sessions.end(ctx, token)
    audit.record(ctx, "kiosk.session.end", person_id)
