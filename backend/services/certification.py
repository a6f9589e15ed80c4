"""Survival certification: kiosk and field (face + liveness), counter and data match.

The backend trusts no score from a device: it re-computes the face template from the
uploaded image, re-runs liveness on the evidence with identity descriptors it computes
itself, checks that the challenge was issued to this caller, is unexpired and unused, and
that the card read matches the person. Only then does it decide, with the county's
thresholds. Liveness failure is never a pass.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func
from sqlmodel import col, select

from backend import idnumber
from backend.answers import CertificationOut
from backend.answers_staff import CertificationsDueOut, CertificationStatusOut, DuePersonOut
from backend.errors import Conflict, Forbidden, InvalidInput, RuleRefused, field_error
from backend.ledger import new_id
from backend.models import Certification, Challenge, Person, ReviewCase, Village, utcnow
from backend.policy import Policy
from backend.rules import certification as certification_rule
from backend.services import (
    audit,
    captures,
    challenges,
    face_engine,
    faces,
    family,
    receipts_service,
    registry,
)
from backend.services.certification_status import certified_since, latest_valid, record_passed
from backend.services.context import Ctx

DEVICE_CHANNELS = {
    "kiosk": "kiosk",
    "field_device": "field",
    "field_worker": "field",
    "family": "family",  # 亲情认证: a family member's phone (services/family.py)
}
# data_match is not manual: it comes only from the scored evidence import (silent_cert.py)
MANUAL_CHANNELS = ("counter",)
PENSIONER_STATUSES = ("receiving", "suspended")
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


@dataclass
class Submission:
    channel: str
    challenge_id: str
    nonce: str
    images: Sequence[bytes]
    evidence: str = ""
    frames: Sequence[bytes] = ()
    person_id: str | None = None
    id_number: str | None = None
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    client_id: str | None = None
    listed_on: date | None = None  # field: the day the work list was downloaded
    signature: str | None = None  # the device's Ed25519 signature (client/capture.py)
    key_id: str | None = None  # a field worker's phone: which registered key signed
    signed_by: str | None = None  # set by submit: the key id the signature was checked with


@dataclass
class LocationCheck:
    """How far the reported location is from the person's village, and the limit applied."""

    distance_km: float
    limit_km: float  # the policy's max_distance_km plus the reported accuracy

    @property
    def far(self) -> bool:
        return self.distance_km > self.limit_km

    def detail(self) -> dict[str, object]:
        return {
            "code": "location_far",
            "distance_km": round(self.distance_km, 2),
            "limit_km": round(self.limit_km, 2),
        }


@dataclass
class Verdict:
    outcome: str
    distance: float | None
    liveness_passed: bool
    liveness_reasons: list[str]
    reasons: list[str] = field(default_factory=list)
    location: LocationCheck | None = None
    # told to the caller and kept with the certification, never a reason to review it
    notes: list[str] = field(default_factory=list)
    best: Candidate | None = None  # the probe that decided; joins the gallery if passed
    gallery_size: int = 1


def precheck(ctx: Ctx, sub: Submission) -> tuple[Submission, dict[str, object] | None]:
    """The cheap checks, before any image is decoded (a bad signature or a used challenge
    costs no face work): the admitted submission, and the earlier answer if it is the field
    app's resend. The route also runs them in a short transaction before `face_work`."""
    sub = admit(ctx, sub)
    replay = _replay(ctx, sub)
    if replay is None:
        challenges.check(ctx, sub.challenge_id, sub.nonce)
    return sub, replay


def face_work(policy: Policy, sub: Submission) -> tuple[face_engine.Probe, list[Candidate]]:
    """The best image's probe and the frames' (with their liveness measurement), cached by
    content. The route runs it before the unit of work, which then finds it done: on SQLite
    every transaction holds the database's write lock, and face work inside one made every
    other certification wait (two kiosks at once: p95 4.7 s, the slowest 12 to 22 s; README,
    `nongbao bench certifications`). The decision uses the one best image the device signed
    (images[0]): the others, if any, are neither signed nor decoded."""
    probe = face_engine.probe(sub.images[0])
    face_engine.warm_samples(sub.evidence, sub.frames)
    return probe, _frame_probes(policy, sub, probe.template)


def submit(ctx: Ctx, key: Ed25519PrivateKey, sub: Submission) -> dict[str, object]:
    sub, replay = precheck(ctx, sub)
    if replay is not None:
        return replay
    probe, extra = face_work(ctx.policy, sub)
    person, card_ok = person_of(ctx, sub)
    _check_channel(ctx, sub, person)
    _check_not_locked(ctx, person.id)
    challenge = challenges.consume(ctx, sub.challenge_id, sub.nonce, person.id)
    enrolled = faces.template_of(ctx, person.id)
    if enrolled is None:
        raise RuleRefused(
            f"person {person.id} has no enrolled face: certify at the counter or enrol a face first"
        )
    if probe.template is None:
        # the kiosk should not have sent it: nothing is recorded and the challenge stays unused
        raise InvalidInput(
            "no usable face in `images`: " + "; ".join(r["en"] for r in probe.reasons),
            errors=[{"field": "images", "message": r["en"]} for r in probe.reasons],
        )
    probes = [Candidate(probe.template, sub.images[0], probe.quality), *extra]
    location = check_location(ctx, sub, person)
    verdict = _judge(ctx, sub, challenge, probes, card_ok, location)
    verdict.notes = certified_meanwhile(ctx, sub, person.id)  # before this one is recorded
    return _record(ctx, key, sub, person, verdict, challenge.id, sub.images[0])


@dataclass(frozen=True)
class Candidate:
    """A probe of the session: its template, the picture it came from, its quality."""

    template: bytes
    picture: bytes
    quality: float


# The best image and the frames are seconds apart in one session, same camera and light:
# a frame farther than this from the best image is not the same capture, and may not decide
# (the reviewer is shown the best image, so what decides must be what they see).
SAME_SESSION_AT = 0.40


def _frame_probes(policy: Policy, sub: Submission, main: bytes | None) -> list[Candidate]:
    """The sharpest frontal liveness frames (policy `probe_frames`), chosen on the server
    from the frames the device signed: a blink or a soft focus in images[0] does not fail
    a person whom another frame of the same session shows well. Frames under the verify
    quality bar, or not of the best image's capture, are skipped."""
    if main is None:
        return []
    out = []
    for index in face_engine.frame_probes(sub.evidence, sub.frames, policy.face.probe_frames):
        found = face_engine.probe(sub.frames[index])
        if found.template is None or face_engine.distance(main, found.template) > SAME_SESSION_AT:
            continue
        out.append(Candidate(found.template, sub.frames[index], found.quality))
    return out


def admit(ctx: Ctx, sub: Submission) -> Submission:
    """The cheap checks, before any image is decoded (backend/services/captures.py): sizes
    and headers of the parts, the evidence's shape, the device's signature."""
    captures.check_parts(sub.images, sub.frames)
    captures.parse_evidence(sub.evidence, len(sub.frames))
    signed = captures.check_signature(
        ctx,
        challenge_id=sub.challenge_id,
        nonce=sub.nonce,
        images=sub.images,
        frames=sub.frames,
        evidence=sub.evidence,
        signature=sub.signature,
        key_id=sub.key_id,
    )
    return replace(sub, signed_by=signed.key_id)


def _replay(ctx: Ctx, sub: Submission) -> dict[str, object] | None:
    """The field app's outbox resends after a lost answer: the same client_id replays."""
    if not sub.client_id:
        return None
    cert = ctx.session.exec(
        select(Certification).where(Certification.client_id == sub.client_id)
    ).first()
    if cert is None:
        return None
    if cert.challenge_id != sub.challenge_id:
        raise Conflict("this client_id was used for another certification")
    return out(ctx, cert)


def person_of(ctx: Ctx, sub: Submission) -> tuple[Person, bool]:
    """The person to certify and whether the card read (if any) matches them."""
    if not sub.person_id and not sub.id_number:
        raise field_error("person_id", "send person_id or the card data (id_number and name)")
    card_person = registry.find_by_id_number(ctx, sub.id_number) if sub.id_number else None
    person = registry.get(ctx, sub.person_id) if sub.person_id else card_person
    assert person is not None
    card_ok = True
    if card_person is not None and card_person.id != person.id:
        card_ok = False
    if sub.name is not None and not idnumber.same_name(sub.name, person.name):
        card_ok = False
    if (
        sub.id_number
        and ctx.keyring.lookup_hash(idnumber.parse(sub.id_number).number) != person.id_hash
    ):
        card_ok = False
    return person, card_ok


def _check_channel(ctx: Ctx, sub: Submission, person: Person) -> None:
    expected = DEVICE_CHANNELS.get(ctx.actor.role)
    if sub.channel != expected:
        raise field_error(
            "channel",
            f"a {ctx.actor.role} certifies through channel {expected!r}, not {sub.channel!r}",
        )
    if ctx.actor.role == "family":
        family.check_may_certify(ctx, person.id)
    if ctx.actor.role == "field_worker" and person.village_code not in ctx.actor.villages:
        raise Forbidden("this person is not in one of your villages", code="not_assigned")
    if person.status in ("cancelled", "terminated"):
        raise RuleRefused(
            f"person {person.id} is {person.status}: nothing to certify", code="person_ended"
        )


def failures_today(ctx: Ctx, person_id: str) -> int:
    return ctx.session.exec(
        select(func.count())
        .select_from(Certification)
        .where(
            Certification.person_id == person_id,
            Certification.outcome == "failed",
            Certification.certified_on == ctx.today,
        )
    ).one()


def _check_not_locked(ctx: Ctx, person_id: str) -> None:
    # lock the person row: concurrent attempts for one card are counted one after the other
    registry.lock(ctx, person_id)
    if failures_today(ctx, person_id) >= ctx.policy.face.max_failures_per_day:
        raise RuleRefused(
            "this card is locked for today after repeated failed face checks; the case is with county staff",
            code="card_locked",
        )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two WGS-84 points, in kilometres (haversine formula)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def check_location(ctx: Ctx, sub: Submission, person: Person) -> LocationCheck | None:
    """The reported location against the person's village (home). No check (None) when the
    submission sends no location or the village has none. A kiosk's registered `location` is
    free text, so only what the submission reports is checked."""
    if sub.channel not in ("kiosk", "field") or sub.latitude is None or sub.longitude is None:
        return None
    village = ctx.session.get(Village, person.village_code)
    if village is None or village.latitude is None or village.longitude is None:
        return None
    distance = haversine_km(village.latitude, village.longitude, sub.latitude, sub.longitude)
    limit = ctx.policy.certification.max_distance_km + (sub.accuracy_m or 0.0) / 1000
    return LocationCheck(distance, limit)


def _judge(
    ctx: Ctx,
    sub: Submission,
    challenge: Challenge,
    probes: list[Candidate],
    card_ok: bool,
    location: LocationCheck | None = None,
) -> Verdict:
    members = faces.gallery_templates(ctx, faces.gallery_of(ctx, challenge.person_id))
    face = face_engine.decide_gallery([p.template for p in probes], members, faces.thresholds(ctx))
    # liveness checks the frames show the enrolled face: the gallery's mean stands for it
    reference = face_engine.gallery_mean(members)
    live = face_engine.check_liveness(
        challenge.id,
        challenge.nonce,
        json.loads(challenge.actions),
        challenges._aware(challenge.created_at),
        challenges._aware(challenge.expires_at),
        sub.evidence,
        sub.frames,
        reference,
        utcnow(),
        action_seconds=ctx.policy.face.action_seconds,
    )
    reasons: list[str] = []
    if face.outcome == "referred":
        reasons.append("grey_zone")
    if not live.passed:
        reasons.append("liveness_failed")
    if not card_ok:
        reasons.append("card_mismatch")
    if location is not None and location.far:
        reasons.append("location_far")
    if face.outcome == "failed":
        outcome = "failed"
        reasons.insert(0, "no_match")
    elif sub.channel == "family" and not live.passed:
        # no staff stands beside a family phone: a failed liveness check there is the
        # attack this channel invites (a photo held up), refused rather than queued for review
        outcome = "failed"
    else:
        outcome = "passed" if not reasons else "referred"
    verdict = Verdict(outcome, face.distance, live.passed, live.reasons, reasons, location)
    verdict.best = probes[face.probe]
    verdict.gallery_size = face.size
    return verdict


def certified_meanwhile(ctx: Ctx, sub: Submission, person_id: str) -> list[str]:
    """A field visit planned from a work list downloaded on `listed_on` finds the person
    already certified since (at a kiosk, the counter, ...): the visit is recorded all the
    same (the person was seen alive), and the answer says so, for the worker."""
    if sub.channel != "field" or sub.listed_on is None:
        return []
    earlier = certified_since(ctx, person_id, sub.listed_on)
    if earlier is None:
        return []
    return [f"already_certified:{earlier.channel}:{earlier.certified_on.isoformat()}"]


def _common(sub: Submission, verdict: Verdict, challenge_id: str) -> dict[str, Any]:
    return {
        "distance": verdict.distance,
        "liveness_passed": verdict.liveness_passed,
        "reasons": json.dumps(
            verdict.reasons + verdict.notes + [f"liveness:{r}" for r in verdict.liveness_reasons]
        ),
        "latitude": sub.latitude,
        "longitude": sub.longitude,
        "accuracy_m": sub.accuracy_m,
        "challenge_id": challenge_id,
        "client_id": sub.client_id,
        "evidence": _evidence_digest(sub),
    }


def _evidence_digest(sub: Submission) -> str:
    """What was judged, as fingerprints: enough to recognise the same upload later, no pixels."""
    return json.dumps(
        {
            "evidence_sha256": hashlib.sha256(sub.evidence.encode()).hexdigest(),
            "images_sha256": [hashlib.sha256(b).hexdigest() for b in sub.images],
            "frames": len(sub.frames),
            "signed_by": sub.signed_by,  # the device key that signed the capture
        }
    )


def _record(
    ctx: Ctx,
    key: Ed25519PrivateKey,
    sub: Submission,
    person: Person,
    verdict: Verdict,
    challenge_id: str,
    photo: bytes,
) -> dict[str, object]:
    fields = {**_common(sub, verdict, challenge_id), "device_id": ctx.actor.device_id}
    if verdict.outcome == "passed":
        cert = record_passed(ctx, person.id, sub.channel, ctx.today, **fields)
        code = _attach_receipt(ctx, key, cert, person)
        if sub.channel == "family":
            family.confirm_by_sms(ctx, person, cert, code)
        if verdict.best is not None:  # each year's pass keeps the gallery current
            best = verdict.best
            faces.add_certification_frame(
                ctx, person.id, cert.id, best.template, best.picture, best.quality
            )
    else:
        cert = Certification(
            id=new_id("cer")[:40],
            person_id=person.id,
            channel=sub.channel,
            outcome=verdict.outcome,
            certified_on=ctx.today,
            actor=ctx.actor.label,
            **fields,
        )
        if sub.channel == "field" and verdict.outcome == "failed":
            # the app refers it to staff next (field._refer_failed): keep who was at the door
            cert.captured_photo_enc = faces.seal(ctx, person.id, photo)
        ctx.session.add(cert)
        ctx.session.flush()
        _refer_if_needed(ctx, cert, verdict, photo)
    audit.record(
        ctx,
        f"certification.{sub.channel}",
        person.id,
        after={
            "certification_id": cert.id,
            "outcome": cert.outcome,
            "distance": cert.distance,
            "location_km": round(verdict.location.distance_km, 3) if verdict.location else None,
        },
    )
    return out(ctx, cert)


def _attach_receipt(ctx: Ctx, key: Ed25519PrivateKey, cert: Certification, person: Person) -> str:
    """Issue the certification's receipt; its code (the text of the QR code)."""
    receipt = receipts_service.issue(ctx, key, person, "certification", cert.certified_on)
    cert.receipt_id = receipt.id
    ctx.session.add(cert)
    ctx.session.flush()
    return receipt.code


def _refer_if_needed(ctx: Ctx, cert: Certification, verdict: Verdict, photo: bytes) -> None:
    reasons: list[object] = list(verdict.reasons)
    if verdict.outcome == "failed":
        if failures_today(ctx, cert.person_id) != ctx.policy.face.max_failures_per_day:
            return  # the person may retry; only the Nth failure of the day goes to staff
        reasons = ["repeated_failures", *[r for r in reasons if r != "no_match"]]
    if verdict.location is not None:
        # the reviewer sees how far from home it was, and the limit that applied
        reasons = [verdict.location.detail() if r == "location_far" else r for r in reasons]
    open_case(ctx, cert.person_id, reasons, certification_id=cert.id, photo=photo)


def open_case(
    ctx: Ctx,
    person_id: str,
    reasons: list[object],
    *,
    certification_id: str | None = None,
    photo: bytes | None = None,
) -> ReviewCase:
    case = ReviewCase(
        id=new_id("rev")[:40],
        person_id=person_id,
        certification_id=certification_id,
        reasons=json.dumps(reasons),
        captured_photo_enc=faces.seal(ctx, person_id, photo) if photo else None,
    )
    ctx.session.add(case)
    ctx.session.flush()
    return case


def out(ctx: Ctx, cert: Certification) -> dict[str, object]:
    from backend.models import Receipt

    body: dict[str, object] = {
        "certification_id": cert.id,
        "person_id": cert.person_id,
        "channel": cert.channel,
        "outcome": cert.outcome,
        "certified_on": cert.certified_on.isoformat(),
        "distance": cert.distance,
        "reasons": [
            r for r in json.loads(cert.reasons or "[]") if not str(r).startswith("liveness:")
        ],
        "liveness": None
        if cert.liveness_passed is None
        else {
            "passed": cert.liveness_passed,
            "reasons": [
                r[9:] for r in json.loads(cert.reasons or "[]") if str(r).startswith("liveness:")
            ],
        },
        "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
        "receipt": None,
    }
    if cert.receipt_id:
        receipt = ctx.session.get(Receipt, cert.receipt_id)
        if receipt is not None:
            body["receipt"] = {"receipt_id": receipt.id, "code": receipt.code}
    return body


# --- staff-attested channels ---------------------------------------------------------------


def manual(
    ctx: Ctx,
    key: Ed25519PrivateKey,
    person_id: str,
    channel: str,
    certified_on: date,
    evidence: str,
) -> dict[str, object]:
    person = registry.get(ctx, person_id)
    cert = _manual_one(ctx, person, channel, certified_on, evidence)
    _attach_receipt(ctx, key, cert, person)
    return out(ctx, cert)


def _manual_one(
    ctx: Ctx, person: Person, channel: str, certified_on: date, evidence: str
) -> Certification:
    if channel not in MANUAL_CHANNELS:
        raise field_error(
            "channel", f"a manual certification is {' or '.join(MANUAL_CHANNELS)}, not {channel!r}"
        )
    if certified_on > ctx.today:
        raise field_error("certified_on", "a certification cannot be dated in the future")
    if certified_on < ctx.today - timedelta(days=366):
        raise field_error(
            "certified_on", "evidence older than a year cannot certify the current cycle"
        )
    if not evidence.strip():
        raise field_error(
            "evidence", "say what the evidence is (a document reference or a short text)"
        )
    if person.status in ("cancelled", "terminated"):
        raise RuleRefused(
            f"person {person.id} is {person.status}: nothing to certify", code="person_ended"
        )
    cert = record_passed(ctx, person.id, channel, certified_on, evidence=evidence.strip()[:2000])
    audit.record(
        ctx,
        f"certification.{channel}",
        person.id,
        after={"certification_id": cert.id, "certified_on": certified_on.isoformat()},
    )
    return cert


# --- status ---------------------------------------------------------------------------------


def status(ctx: Ctx, person_id: str) -> CertificationStatusOut:
    person = registry.get(ctx, person_id)
    last = ctx.session.exec(
        select(Certification)
        .where(Certification.person_id == person_id)
        .order_by(col(Certification.created_at).desc())
    ).first()
    valid = latest_valid(ctx, person_id, ctx.today)
    until = valid.valid_until if valid else None
    state = certification_rule.state(ctx.policy, until, ctx.today)
    failures = failures_today(ctx, person_id)
    return CertificationStatusOut(
        person_id=person.id,
        status=state,
        valid_until=until.isoformat() if until else None,
        last_passed=CertificationOut.model_validate(out(ctx, valid)) if valid else None,
        last=CertificationOut.model_validate(out(ctx, last)) if last else None,
        failures_today=failures,
        locked_today=failures >= ctx.policy.face.max_failures_per_day,
    )


def due_lists(ctx: Ctx, village_code: str | None = None) -> CertificationsDueOut:
    """Pensioners whose certification runs out within the policy's `due_soon_days` (due) or
    has run out (overdue)."""
    query = (
        select(Person)
        .where(col(Person.status).in_(PENSIONER_STATUSES))
        .order_by(Person.village_code, Person.name)
    )
    if village_code:
        query = query.where(Person.village_code == village_code)
    due: list[DuePersonOut] = []
    overdue: list[DuePersonOut] = []
    for p in ctx.session.exec(query).all():
        valid = latest_valid(ctx, p.id, ctx.today)
        until = valid.valid_until if valid else None
        row = DuePersonOut(
            person_id=p.id,
            name=p.name,
            village_code=p.village_code,
            valid_until=until.isoformat() if until else None,
        )
        state = certification_rule.state(ctx.policy, until, ctx.today)
        if state in ("never", "overdue"):
            overdue.append(row)
        elif state == "due":
            due.append(row)
    return CertificationsDueOut(due=due, overdue=overdue)
