"""The field worker's side of certification: the work list and the visits without a face.

A field device downloads its work list while it has signal and works offline for days, so
the list carries what a visit needs away from the network: address, phone, the last
certification, and the enrolled face template (the device stores it encrypted under the
worker's PIN and uses it only for a preliminary result: the backend decides).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from sqlmodel import col, select

from backend import idnumber
from backend.answers import (
    AttachmentsOut,
    LastCertificationOut,
    LocationOut,
    VisitOut,
    WorklistOut,
    WorkPersonOut,
    WorkVillageOut,
)
from backend.errors import Conflict, Forbidden, field_error
from backend.models import ArchiveDocument, Certification, Person, ReviewCase, Village, utcnow
from backend.rules import certification as certification_rule
from backend.services import archives, audit, faces, registry, silent_cert
from backend.services.certification import PENSIONER_STATUSES, open_case
from backend.services.certification_status import certified_since, latest_valid
from backend.services.context import Ctx

VisitOutcome = Literal["not_at_home", "reported_dead", "refer_failed"]


def _scope(ctx: Ctx, village: str | None) -> list[str]:
    villages = list(ctx.actor.villages)
    if village is None:
        return villages
    if village not in villages:
        raise Forbidden("field workers see only their own villages")
    return [village]


def worklist(ctx: Ctx, village: str | None = None) -> WorklistOut:
    """Pensioners of the worker's villages whose certification is due or overdue, by
    village, the homebound first (they are the ones who need a visit), then by name."""
    codes = _scope(ctx, village)
    villages = {
        v.code: v
        for v in ctx.session.exec(select(Village).where(col(Village.code).in_(codes))).all()
    }
    people = ctx.session.exec(
        select(Person).where(
            col(Person.village_code).in_(codes), col(Person.status).in_(PENSIONER_STATUSES)
        )
    ).all()
    rows = [row for p in people if (row := _row(ctx, p, villages.get(p.village_code))) is not None]
    rows.sort(key=lambda r: (r.village_code, not r.homebound, r.name, r.person_id))
    audit.record(ctx, "field.worklist", ",".join(codes)[:80], after={"persons": len(rows)})
    return WorklistOut(
        generated_at=utcnow().isoformat(),
        today=ctx.today.isoformat(),
        worker=ctx.actor.name,
        villages=[
            WorkVillageOut(code=c, name=v.name, township=v.township)
            for c, v in sorted(villages.items())
        ],
        persons=rows,
    )


def _state(ctx: Ctx, until: date | None) -> str | None:
    state = certification_rule.state(ctx.policy, until, ctx.today)
    return None if state == "certified" else state


def _row(ctx: Ctx, p: Person, village: Village | None) -> WorkPersonOut | None:
    valid = latest_valid(ctx, p.id, ctx.today)
    state = _state(ctx, valid.valid_until if valid else None)
    if state is None:
        return None  # certified for a while yet: no visit needed
    template = faces.reference_bytes(ctx, p.id)  # the gallery's mean, for the device's guidance
    number = registry.id_number_of(ctx, p)
    # the ID number as this role sees it on every other route: masked unless the role may see
    # it whole (a field worker may not); the device matches an ID card on the visible digits
    shown = registry.shown_id_number(ctx, number)
    return WorkPersonOut(
        person_id=p.id,
        name=p.name,
        id_number=shown,
        id_number_masked=idnumber.mask(number),
        birth_date=p.birth_date.isoformat(),
        gender=p.gender,
        village_code=p.village_code,
        village_name=village.name if village else p.village_code,
        address=f"{village.township}{village.name}" if village else p.village_code,
        phone=registry.phone_of(ctx, p),
        homebound=p.homebound,
        status=p.status,
        due_state=state,
        # medium silent evidence (backend/services/silent_cert.py): likely alive, confirm
        silent_evidence=silent_cert.field_hint(ctx, p.id),
        last_certification=_cert(valid),
        face_template=base64.b64encode(template).decode() if template else None,
    )


def _cert(cert: Certification | None) -> LastCertificationOut | None:
    if cert is None:
        return None
    return LastCertificationOut(
        certified_on=cert.certified_on.isoformat(),
        channel=cert.channel,
        valid_until=cert.valid_until.isoformat() if cert.valid_until else None,
    )


@dataclass
class Visit:
    client_id: str
    person_id: str
    outcome: VisitOutcome
    visited_at: str
    listed_on: date | None = None
    note: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    date_of_death: date | None = None
    certification_id: str | None = None


def record_visit(ctx: Ctx, visit: Visit) -> VisitOut:
    """A visit without a face check. Conflicts say what happened since the list was made."""
    person = registry.get(ctx, visit.person_id)
    _check_assigned(ctx, person)
    if person.status in ("terminated", "cancelled"):
        raise Conflict(
            f"person {person.id} is {person.status} in the registry: no visit needed",
            code="person_ended",
        )
    if visit.outcome == "not_at_home":
        _check_not_certified_since(ctx, person.id, visit.listed_on)
        case_id = None
    elif visit.outcome == "refer_failed":
        case_id = _refer_failed(ctx, person.id, visit)
    else:
        if visit.date_of_death and visit.date_of_death > ctx.today:
            raise field_error("date_of_death", "a date of death cannot be in the future")
        reasons: list[object] = ["death_reported_by_family"]
        if visit.date_of_death:
            reasons.append(f"date_of_death:{visit.date_of_death.isoformat()}")
        if visit.note:
            reasons.append(f"note:{visit.note[:500]}")
        case_id = open_case(ctx, person.id, reasons).id
    audit.record(
        ctx,
        f"field.visit.{visit.outcome}",
        person.id,
        after={"client_id": visit.client_id, "case_id": case_id, "visited_at": visit.visited_at},
    )
    return VisitOut(
        visit_id=visit.client_id,
        person_id=person.id,
        outcome=visit.outcome,
        recorded_on=ctx.today.isoformat(),
        review_case_id=case_id,
        location=None
        if visit.latitude is None
        else LocationOut(
            latitude=visit.latitude, longitude=visit.longitude, accuracy_m=visit.accuracy_m
        ),
    )


def _check_assigned(ctx: Ctx, person: Person) -> None:
    if person.village_code not in ctx.actor.villages:
        raise Forbidden(
            "this person is not in one of your villages (moved away, or you are no longer assigned to the village)",
            code="not_assigned",
        )


def _refer_failed(ctx: Ctx, person_id: str, visit: Visit) -> str:
    """A failed face check at home goes to county staff at once: unlike at a kiosk, the
    person cannot simply try again tomorrow, and a stranger at the pensioner's door is
    exactly the fraud the visit is for."""
    cert = (
        ctx.session.get(Certification, visit.certification_id) if visit.certification_id else None
    )
    if (
        cert is None
        or cert.person_id != person_id
        or cert.channel != "field"
        or cert.actor != ctx.actor.label
    ):
        raise field_error(
            "certification_id", "not a field certification of this person made by you"
        )
    if cert.outcome != "failed":
        raise Conflict(f"certification {cert.id} was {cert.outcome}: nothing to refer")
    existing = ctx.session.exec(
        select(ReviewCase).where(ReviewCase.certification_id == cert.id)
    ).first()
    if existing is not None:
        return existing.id  # the backend referred it already (e.g. the day's last allowed failure)
    reasons: list[object] = [
        "field_face_failed",
        # what the face check found; not its liveness details, nor the note for the worker
        # that the person was certified elsewhere meanwhile (the case shows the history)
        *[
            r
            for r in json.loads(cert.reasons or "[]")
            if not str(r).startswith(("liveness:", "already_certified:"))
        ],
    ]
    if visit.note:
        reasons.append(f"note:{visit.note[:500]}")
    photo = (
        faces.open_sealed(ctx, person_id, cert.captured_photo_enc)
        if cert.captured_photo_enc
        else None
    )
    return open_case(ctx, person_id, reasons, certification_id=cert.id, photo=photo).id


def _check_not_certified_since(ctx: Ctx, person_id: str, listed_on: date | None) -> None:
    valid = certified_since(ctx, person_id, listed_on) if listed_on else None
    if valid is None:
        return
    raise Conflict(
        f"already certified on {valid.certified_on.isoformat()} (channel {valid.channel}): the visit is no longer needed",
        code="certified_meanwhile",
    )


def visit_payload(visit: Visit) -> str:
    return json.dumps(visit.__dict__, default=str, sort_keys=True)


# --- what a visit brings home besides the face: the worker's attestation, note, documents ---

RECORD_TITLE = "上门走访记录 / Field visit record"
EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def attach(
    ctx: Ctx,
    root: Path,
    client_id: str,
    person_id: str,
    attestation: str,
    note: str,
    documents: list[bytes],
) -> AttachmentsOut:
    """File the visit's attestation and note (a one-page PDF) and its document photos in the
    person's archive, where county staff see them. Idempotent: the outbox resends after a
    lost answer, and a resend finds the documents the first one filed."""
    person = registry.get(ctx, person_id)
    _check_assigned(ctx, person)
    if not attestation.strip():
        raise field_error("attestation", "the worker's attestation is required")
    prefix = f"visit-{_safe(client_id)}."  # the id has no dot: the prefix names one visit
    # every document is checked before anything is stored: a refusal leaves nothing behind
    types = [archives.check(ctx, data) for data in documents]
    record = _record_pdf(ctx, person, client_id, attestation, note, len(documents))
    registry.lock(ctx, person.id)  # two resends at once file the visit once
    filed = _file(ctx, root, person.id, "field_attestation", prefix, "attestation.pdf", record)
    photos = [
        _file(ctx, root, person.id, "field_document", prefix, f"document-{n}.{EXTENSIONS[t]}", d)
        for n, (d, t) in enumerate(zip(documents, types, strict=True), start=1)
    ]
    ids = [filed.id, *[p.id for p in photos]]
    audit.record(
        ctx, "field.visit.attachments", person_id, after={"client_id": client_id, "documents": ids}
    )
    return AttachmentsOut(
        client_id=client_id,
        person_id=person_id,
        documents=len(documents),
        attestation=True,
        attestation_document_id=filed.id,
        document_ids=ids[1:],
    )


def _file(
    ctx: Ctx, root: Path, person_id: str, kind: str, visit: str, name: str, data: bytes
) -> ArchiveDocument:
    """The visit's document with this content: filed now, unless a former send filed it."""
    found = archives.find(ctx, person_id, kind, hashlib.sha256(data).hexdigest(), visit)
    return found or archives.add(ctx, root, person_id, kind, visit + name, None, data)


def _record_pdf(
    ctx: Ctx, person: Person, client_id: str, attestation: str, note: str, documents: int
) -> bytes:
    """Only what the request says and the registry holds: the same send renders the same
    bytes (no date of receipt; the archive row has it), so a resend is recognised."""
    from backend.reports.render import record_pdf

    village = ctx.session.get(Village, person.village_code)
    return record_pdf(
        RECORD_TITLE,
        [
            ("走访编号 Visit", client_id),
            ("人员编号 Person", person.id),
            ("姓名 Name", person.name),
            ("村 Village", f"{village.township}{village.name}" if village else person.village_code),
            ("协管员 Field worker", ctx.actor.label),
            ("协管员确认 Attestation", attestation.strip()),
            ("备注 Note", note.strip() or "—"),
            ("证件照片 Document photos", str(documents)),
        ],
    )


def _safe(client_id: str) -> str:
    if not (client_id.isascii() and client_id.replace("-", "").isalnum()):
        raise field_error("client_id", "a client id has letters, digits and dashes only")
    return client_id
