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
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from sqlmodel import select

from backend import idnumber
from backend.errors import Conflict, Forbidden, field_error
from backend.models import Certification, Person, ReviewCase, Village, utcnow
from backend.services import audit, faces, registry
from backend.services.certification import DUE_WITHIN_DAYS, PENSIONER_STATUSES, open_case
from backend.services.certification_status import latest_valid
from backend.services.context import Ctx

VisitOutcome = Literal["not_at_home", "reported_dead", "refer_failed"]


def _scope(ctx: Ctx, village: str | None) -> list[str]:
    villages = list(ctx.actor.villages)
    if village is None:
        return villages
    if village not in villages:
        raise Forbidden("field workers see only their own villages")
    return [village]


def worklist(ctx: Ctx, village: str | None = None) -> dict[str, object]:
    """Pensioners of the worker's villages whose certification is due or overdue, by
    village, the homebound first (they are the ones who need a visit), then by name."""
    codes = _scope(ctx, village)
    villages = {
        v.code: v for v in ctx.session.exec(select(Village).where(Village.code.in_(codes))).all()
    }  # type: ignore[attr-defined]
    people = ctx.session.exec(
        select(Person).where(Person.village_code.in_(codes), Person.status.in_(PENSIONER_STATUSES))  # type: ignore[attr-defined]
    ).all()
    rows = [row for p in people if (row := _row(ctx, p, villages.get(p.village_code))) is not None]
    rows.sort(key=lambda r: (r["village_code"], not r["homebound"], r["name"], r["person_id"]))
    audit.record(ctx, "field.worklist", ",".join(codes)[:80], after={"persons": len(rows)})
    return {
        "generated_at": utcnow().isoformat(),
        "today": ctx.today.isoformat(),
        "worker": ctx.actor.name,
        "villages": [
            {"code": c, "name": v.name, "township": v.township} for c, v in sorted(villages.items())
        ],
        "persons": rows,
    }


def _state(until: date | None, today: date) -> str | None:
    if until is None:
        return "never"
    if until < today:
        return "overdue"
    return "due" if until <= today + timedelta(days=DUE_WITHIN_DAYS) else None


def _row(ctx: Ctx, p: Person, village: Village | None) -> dict[str, object] | None:
    valid = latest_valid(ctx, p.id, ctx.today)
    state = _state(valid.valid_until if valid else None, ctx.today)
    if state is None:
        return None  # certified for a while yet: no visit needed
    template = faces.template_of(ctx, p.id)
    number = registry.id_number_of(ctx, p)
    return {
        "person_id": p.id,
        "name": p.name,
        "id_number": number,
        "id_number_masked": idnumber.mask(number),
        "birth_date": p.birth_date.isoformat(),
        "gender": p.gender,
        "village_code": p.village_code,
        "village_name": village.name if village else p.village_code,
        "address": f"{village.township}{village.name}" if village else p.village_code,
        "phone": p.phone,
        "homebound": p.homebound,
        "status": p.status,
        "due_state": state,
        "last_certification": _cert(valid),
        "face_template": base64.b64encode(faces.template_bytes(ctx, template)).decode()
        if template
        else None,
    }


def _cert(cert: Certification | None) -> dict[str, object] | None:
    if cert is None:
        return None
    return {
        "certified_on": cert.certified_on.isoformat(),
        "channel": cert.channel,
        "valid_until": cert.valid_until.isoformat() if cert.valid_until else None,
    }


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


def record_visit(ctx: Ctx, visit: Visit) -> dict[str, object]:
    """A visit without a face check. Conflicts say what happened since the list was made."""
    person = registry.get(ctx, visit.person_id)
    if person.village_code not in ctx.actor.villages:
        raise Forbidden(
            "this person is not in one of your villages (moved away, or you are no longer assigned to the village)"
        )
    if person.status in ("terminated", "cancelled"):
        raise Conflict(f"person {person.id} is {person.status} in the registry: no visit needed")
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
    return {
        "visit_id": visit.client_id,
        "person_id": person.id,
        "outcome": visit.outcome,
        "recorded_on": ctx.today.isoformat(),
        "review_case_id": case_id,
        "location": None
        if visit.latitude is None
        else {
            "latitude": visit.latitude,
            "longitude": visit.longitude,
            "accuracy_m": visit.accuracy_m,
        },
    }


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
        *[r for r in json.loads(cert.reasons or "[]") if not str(r).startswith("liveness:")],
    ]
    if visit.note:
        reasons.append(f"note:{visit.note[:500]}")
    return open_case(ctx, person_id, reasons, certification_id=cert.id).id


def _check_not_certified_since(ctx: Ctx, person_id: str, listed_on: date | None) -> None:
    valid = latest_valid(ctx, person_id, ctx.today)
    if valid is None or listed_on is None or valid.certified_on < listed_on:
        return
    raise Conflict(
        f"already certified on {valid.certified_on.isoformat()} (channel {valid.channel}): the visit is no longer needed"
    )


def visit_payload(visit: Visit) -> str:
    return json.dumps(visit.__dict__, default=str, sort_keys=True)


# --- what a visit brings home besides the face: the worker's attestation, note, documents ---


def attach(
    ctx: Ctx,
    folder: Path,
    client_id: str,
    person_id: str,
    attestation: str,
    note: str,
    documents: list[bytes],
) -> dict[str, object]:
    """Sealed files under the data folder, one folder per visit, named by content: sending
    the same attachments again (the outbox resends after a lost answer) writes nothing new."""
    person = registry.get(ctx, person_id)
    if person.village_code not in ctx.actor.villages:
        raise Forbidden(
            "this person is not in one of your villages (moved away, or you are no longer assigned to the village)"
        )
    if not attestation.strip():
        raise field_error("attestation", "the worker's attestation is required")
    target = folder / "field_visits" / _safe(client_id)
    target.mkdir(parents=True, exist_ok=True)
    aad = f"{person_id}|{client_id}".encode()
    record = json.dumps(
        {
            "person_id": person_id,
            "worker": ctx.actor.label,
            "attestation": attestation,
            "note": note,
        },
        ensure_ascii=False,
    ).encode()
    names = []
    for data in [record, *documents]:
        name = hashlib.sha256(data).hexdigest()[:32]
        names.append(name)
        path = target / name
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(ctx.keyring.encrypt(data, aad))
            tmp.replace(path)  # atomic: a half-written file never has the final name
    audit.record(
        ctx, "field.visit.attachments", person_id, after={"client_id": client_id, "files": names}
    )
    return {
        "client_id": client_id,
        "person_id": person_id,
        "documents": len(documents),
        "attestation": True,
    }


def _safe(client_id: str) -> str:
    if not client_id.replace("-", "").isalnum():
        raise field_error("client_id", "a client id has letters, digits and dashes only")
    return client_id
