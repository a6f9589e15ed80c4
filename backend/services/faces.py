"""Face enrolment (with the 1:N duplicate search) and the 1:1 check at the counter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
from sqlmodel import col, select

from backend.errors import InvalidInput, RuleRefused
from backend.ledger import new_id
from backend.models import FaceTemplate, Person, ReviewCase, utcnow
from backend.services import audit, face_engine, registry
from backend.services.context import Ctx

if TYPE_CHECKING:
    from biometrics.thresholds import GalleryThresholds


def _aad(person_id: str) -> bytes:
    # binds each ciphertext to its person: a template copied onto another row will not decrypt
    return person_id.encode()


def template_of(ctx: Ctx, person_id: str) -> FaceTemplate | None:
    """The person's active enrolled face (the newest)."""
    return ctx.session.exec(
        select(FaceTemplate)
        .where(FaceTemplate.person_id == person_id, col(FaceTemplate.active).is_(True))
        .order_by(col(FaceTemplate.created_at).desc())
    ).first()


def gallery_of(ctx: Ctx, person_id: str) -> list[FaceTemplate]:
    """The person's active gallery, oldest first: enrolment photos and passed
    certifications' best frames (biometrics/gallery.py). One row for people enrolled
    before galleries."""
    return list(
        ctx.session.exec(
            select(FaceTemplate)
            .where(FaceTemplate.person_id == person_id, col(FaceTemplate.active).is_(True))
            .order_by(col(FaceTemplate.created_at), col(FaceTemplate.id))
        ).all()
    )


def enrolled_face(ctx: Ctx, person_id: str) -> FaceTemplate | None:
    """The photo a reviewer sees as "enrolled": the best photo of the newest enrolment in
    the gallery (a certification's frame is a capture, not what staff enrolled)."""
    rows = [r for r in gallery_of(ctx, person_id) if r.source != "certification"]
    if not rows:
        return template_of(ctx, person_id)
    newest = max(_aware(r.created_at) for r in rows)
    return max((r for r in rows if _aware(r.created_at) == newest), key=lambda r: r.quality)


def reference_bytes(ctx: Ctx, person_id: str) -> bytes | None:
    """The gallery's mean template (None without a face): what an offline device compares
    with; the server decides again on the whole gallery."""
    rows = gallery_of(ctx, person_id)
    return face_engine.gallery_mean(gallery_templates(ctx, rows)) if rows else None


def thresholds(ctx: Ctx) -> GalleryThresholds:
    """The county's pairs for a gallery of one template, of two and of three or more: the one
    place the face decision reads its thresholds from the policy (`for_size` picks)."""
    return ctx.policy.face.thresholds()


def gallery_templates(ctx: Ctx, rows: Sequence[FaceTemplate]) -> list[bytes]:
    return [template_bytes(ctx, r) for r in rows]


def decide(ctx: Ctx, person_id: str, probes: Sequence[bytes]) -> face_engine.GalleryDecision:
    """The gallery decision on the nearest of the probes; RuleRefused without a face."""
    rows = gallery_of(ctx, person_id)
    if not rows:
        raise RuleRefused(f"person {person_id} has no enrolled face: enrol one first")
    return face_engine.decide_gallery(probes, gallery_templates(ctx, rows), thresholds(ctx))


def add_certification_frame(
    ctx: Ctx, person_id: str, certification_id: str, template: bytes, photo: bytes, quality: float
) -> FaceTemplate:
    """A passed certification's best frame joins the gallery (never a referred or failed
    one's); past the policy's gallery_max the oldest are retired, the newest enrolment
    photo always kept (biometrics.gallery.trim)."""
    from biometrics import gallery as g

    row = FaceTemplate(
        id=new_id("fce")[:40],
        person_id=person_id,
        template_enc=seal(ctx, person_id, template),
        photo_enc=seal(ctx, person_id, photo),
        quality=quality,
        created_by=ctx.actor.label,
        created_at=utcnow(),
        source="certification",
        certification_id=certification_id,
    )
    ctx.session.add(row)
    ctx.session.flush()
    rows = gallery_of(ctx, person_id)
    entries = [g.Entry(r.id, _ZERO, _source(r), _aware(r.created_at)) for r in rows]
    _, dropped = g.trim(entries, ctx.policy.face.gallery_max)
    by_id = {r.id: r for r in rows}
    for entry in dropped:
        by_id[entry.key].active = False
        ctx.session.add(by_id[entry.key])
    ctx.session.flush()
    return row


_ZERO = np.zeros(128, np.float32)  # trimming looks at dates and sources only


def _aware(at: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _source(row: FaceTemplate) -> Literal["enrolment", "certification"]:
    return "certification" if row.source == "certification" else "enrolment"


def template_bytes(ctx: Ctx, row: FaceTemplate) -> bytes:
    return ctx.keyring.decrypt(row.template_enc, _aad(row.person_id))


def photo_bytes(ctx: Ctx, row: FaceTemplate) -> bytes | None:
    return ctx.keyring.decrypt(row.photo_enc, _aad(row.person_id)) if row.photo_enc else None


def seal(ctx: Ctx, person_id: str, data: bytes) -> bytes:
    return ctx.keyring.encrypt(data, _aad(person_id))


def open_sealed(ctx: Ctx, person_id: str, blob: bytes) -> bytes:
    return ctx.keyring.decrypt(blob, _aad(person_id))


def enrol(ctx: Ctx, person_id: str, images: Sequence[bytes]) -> dict[str, object]:
    if not images:
        raise InvalidInput(
            "send at least one photo as `images`",
            errors=[{"field": "images", "message": "this field is required"}],
        )
    least, limit = ctx.policy.face.enrol_min_photos, ctx.policy.face.enrol_max_photos
    if len(images) < least:
        # a gallery is two or more photos: one photo's template is twice as spread
        raise InvalidInput(
            f"enrolment takes {least} to {limit} photos of the person, not {len(images)}: "
            "take another photo",
            errors=[{"field": "images", "message": f"at least {least} files"}],
            code="too_few_photos",
        )
    if len(images) > limit:
        raise InvalidInput(
            f"at most {limit} enrolment photos, not {len(images)}",
            errors=[{"field": "images", "message": f"at most {limit} files"}],
            code="too_many_files",
        )
    # the face work before the first query: on SQLite the transaction holds the write lock
    result = face_engine.enrol(images)
    person = registry.get(ctx, person_id)
    if person.status in ("cancelled", "terminated"):
        raise RuleRefused(f"person {person_id} is {person.status}: no face can be enrolled")
    if not result.ok or result.template is None:
        text = "; ".join(r["en"] for r in result.reasons)
        raise InvalidInput(
            f"no photo is good enough to enrol: {text}",
            errors=[{"field": "images", "message": r["en"]} for r in result.reasons],
        )
    if len(result.used) < least:
        refused = [
            f"photo {i + 1}: " + _reasons_text(p.get("reasons"))
            for i, p in enumerate(result.photos)
            if not p.get("ok")
        ]
        raise InvalidInput(
            f"only {len(result.used)} of {len(images)} photos is good enough to enrol, "
            f"{least} are needed: " + " / ".join(refused),
            errors=[{"field": "images", "message": m} for m in refused],
            code="too_few_usable_photos",
        )
    duplicates = _duplicates(ctx, person, result.template)
    if not duplicates:
        _retire_old(ctx, person_id)  # a new enrolment starts a new gallery
    rows = _gallery_rows(ctx, person_id, images, result, active=not duplicates)
    row = rows[0]
    case_id = None
    if duplicates:
        # one face under two ID numbers: held back until a reviewer decides
        case = ReviewCase(
            id=new_id("rev")[:40],
            person_id=person_id,
            reasons=json.dumps(
                [{"code": "possible_duplicate", "template_id": row.id, "others": duplicates}]
            ),
        )
        ctx.session.add(case)
        ctx.session.flush()
        case_id = case.id
    audit.record(
        ctx,
        "face.enrol",
        person_id,
        after={
            "template_id": row.id,
            "enrolment_id": row.enrolment_id,
            "gallery": [r.id for r in rows],
            "duplicates": duplicates,
        },
    )
    return {
        "template_id": row.id,
        "enrolment_id": row.enrolment_id,
        "gallery_size": len(rows),
        "quality": result.quality,
        "accepted": not duplicates,
        "duplicates": duplicates,
        "review_case_id": case_id,
        "photos": result.photos,
    }


def _reasons_text(reasons: object) -> str:
    if not isinstance(reasons, list):
        return "refused"
    return "; ".join(str(r.get("en", r)) if isinstance(r, dict) else str(r) for r in reasons)


def _gallery_rows(
    ctx: Ctx,
    person_id: str,
    images: Sequence[bytes],
    result: face_engine.Enrolled,
    *,
    active: bool,
) -> list[FaceTemplate]:
    """One row per accepted photo, each with its own template, photo and quality; the best
    photo first (its id is the enrolment's `template_id`, the one a reviewer sees)."""
    enrolment_id = new_id("enr")[:40]
    now = utcnow()
    order = sorted(range(len(result.used)), key=lambda k: -result.qualities[k])
    rows = []
    for k in order:
        index = result.used[k]
        rows.append(
            FaceTemplate(
                id=new_id("fce")[:40],
                person_id=person_id,
                template_enc=seal(ctx, person_id, result.templates[k]),
                photo_enc=seal(ctx, person_id, images[index]),
                quality=result.qualities[k],
                active=active,
                created_by=ctx.actor.label,
                created_at=now,
                source="enrolment",
                enrolment_id=enrolment_id,
            )
        )
    ctx.session.add_all(rows)
    ctx.session.flush()
    return rows


def _retire_old(ctx: Ctx, person_id: str) -> None:
    for old in ctx.session.exec(
        select(FaceTemplate).where(
            FaceTemplate.person_id == person_id, col(FaceTemplate.active).is_(True)
        )
    ).all():
        old.active = False
        ctx.session.add(old)


def _duplicates(ctx: Ctx, person: Person, template: bytes) -> list[dict[str, object]]:
    rows = ctx.session.exec(
        select(FaceTemplate.person_id, FaceTemplate.template_enc)
        .join(Person, col(Person.id) == FaceTemplate.person_id)
        .where(
            col(FaceTemplate.active).is_(True),
            FaceTemplate.person_id != person.id,
            Person.id_hash != person.id_hash,
        )
    ).all()
    candidates = ((pid, ctx.keyring.decrypt(blob, _aad(pid))) for pid, blob in rows)
    found = face_engine.nearest(template, candidates, below=ctx.policy.face.duplicate_at)
    nearest: dict[str, float] = {}
    for pid, d in found:  # nearest first; a gallery has several templates per person
        nearest.setdefault(pid, d)
    return [{"person_id": pid, "distance": d} for pid, d in nearest.items()]


def activate(ctx: Ctx, template_id: str) -> None:
    """A reviewer cleared a possible duplicate: the held-back template becomes the person's face."""
    row = ctx.session.get(FaceTemplate, template_id)
    if row is None:
        return
    _retire_old(ctx, row.person_id)
    members = (
        ctx.session.exec(
            select(FaceTemplate).where(FaceTemplate.enrolment_id == row.enrolment_id)
        ).all()
        if row.enrolment_id
        else [row]
    )
    for member in members:  # the whole held-back gallery of that enrolment
        member.active = True
        ctx.session.add(member)


def verify(ctx: Ctx, person_id: str, image: bytes) -> dict[str, object]:
    probe = face_engine.probe(image)  # before the first query, as in enrol
    registry.get(ctx, person_id)
    if template_of(ctx, person_id) is None:
        raise RuleRefused(f"person {person_id} has no enrolled face: enrol one first")
    if probe.template is None:
        out: dict[str, object] = {
            "outcome": "failed",
            "distance": None,
            "reasons": [r["code"] for r in probe.reasons],
        }
    else:
        decision = decide(ctx, person_id, [probe.template])
        out = {
            "outcome": decision.outcome,
            "distance": decision.distance,
            "gallery_size": decision.size,
            "reasons": []
            if decision.outcome == "passed"
            else ["grey_zone" if decision.outcome == "referred" else "no_match"],
        }
    audit.record(ctx, "face.verify", person_id, after=out)
    return out
