"""Face enrolment (with the 1:N duplicate search) and the 1:1 check at the counter."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlmodel import col, select

from backend.errors import InvalidInput, RuleRefused
from backend.ledger import new_id
from backend.models import FaceTemplate, Person, ReviewCase
from backend.services import audit, face_engine, registry
from backend.services.context import Ctx


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
    duplicates = _duplicates(ctx, person, result.template)
    row = FaceTemplate(
        id=new_id("fce")[:40],
        person_id=person_id,
        template_enc=seal(ctx, person_id, result.template),
        photo_enc=seal(ctx, person_id, images[_first_used(result)]),
        quality=result.quality,
        active=not duplicates,
        created_by=ctx.actor.label,
    )
    if not duplicates:
        _retire_old(ctx, person_id)
    ctx.session.add(row)
    ctx.session.flush()
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
        ctx, "face.enrol", person_id, after={"template_id": row.id, "duplicates": duplicates}
    )
    return {
        "template_id": row.id,
        "quality": result.quality,
        "accepted": not duplicates,
        "duplicates": duplicates,
        "review_case_id": case_id,
        "photos": result.photos,
    }


def _first_used(result: face_engine.Enrolled) -> int:
    return next((i for i, p in enumerate(result.photos) if p["ok"]), 0)


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
    return [{"person_id": pid, "distance": d} for pid, d in found]


def activate(ctx: Ctx, template_id: str) -> None:
    """A reviewer cleared a possible duplicate: the held-back template becomes the person's face."""
    row = ctx.session.get(FaceTemplate, template_id)
    if row is None:
        return
    _retire_old(ctx, row.person_id)
    row.active = True
    ctx.session.add(row)


def verify(ctx: Ctx, person_id: str, image: bytes) -> dict[str, object]:
    probe = face_engine.probe(image)  # before the first query, as in enrol
    registry.get(ctx, person_id)
    enrolled = template_of(ctx, person_id)
    if enrolled is None:
        raise RuleRefused(f"person {person_id} has no enrolled face: enrol one first")
    if probe.template is None:
        out: dict[str, object] = {
            "outcome": "failed",
            "distance": None,
            "reasons": [r["code"] for r in probe.reasons],
        }
    else:
        dist = face_engine.distance(template_bytes(ctx, enrolled), probe.template)
        decision = face_engine.decide(dist, ctx.policy.face.pass_at, ctx.policy.face.refer_at)
        out = {
            "outcome": decision.outcome,
            "distance": dist,
            "reasons": []
            if decision.outcome == "passed"
            else ["grey_zone" if decision.outcome == "referred" else "no_match"],
        }
    audit.record(ctx, "face.verify", person_id, after=out)
    return out
