"""The registry: enrolment, changes with history, cancellation, freezing (blacklist)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select

from backend import idnumber, ledger
from backend.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleRefused, field_error
from backend.models import Person, PersonChange, PersonParent, Village, utcnow
from backend.schemas import PersonOut
from backend.services import audit, kiosk_sessions
from backend.services.context import Ctx

MIN_ENROL_AGE = 16
# roles that see full ID numbers because their job needs them (enrolment, counter service)
# who sees ID numbers whole (DOMAIN.md: "masked everywhere except to staff whose job needs
# it"); every other role, the field worker's work list included, sees them masked
FULL_ID_ROLES = ("admin", "clerk")
CHANGEABLE = ("name", "phone", "village_code", "household_id", "severely_disabled", "homebound")


@dataclass
class Enrolment:
    id_number: str
    name: str
    village_code: str
    enrolled_on: date
    phone: str | None = None
    household_id: str | None = None
    parent_person_ids: list[str] | None = None
    student: bool = False
    urban_employee_pension: bool = False
    severely_disabled: bool = False
    homebound: bool = False
    birth_date: date | None = None
    gender: str | None = None


def new_person_id() -> str:
    return "p" + uuid.uuid4().hex[:24]


def enrol(ctx: Ctx, req: Enrolment) -> Person:
    ident = idnumber.parse(req.id_number)
    _check_declared(req, ident)
    _check_eligible(ctx, req, ident)
    s = ctx.session
    if s.get(Village, req.village_code) is None:
        raise field_error("village_code", f"unknown village code {req.village_code!r}")
    id_hash = ctx.keyring.lookup_hash(ident.number)
    if s.exec(
        select(Person.id).where(Person.id_hash == id_hash, Person.status != "cancelled")
    ).first():
        raise Conflict("this ID number is already enrolled")
    parents = _existing_persons(ctx, req.parent_person_ids or [])
    person_id = new_person_id()
    person = Person(
        id=person_id,
        id_hash=id_hash,
        id_number_enc=ctx.keyring.encrypt_text(ident.number, person_id),
        old_id_number_enc=ctx.keyring.encrypt_text(ident.old_number, person_id)
        if ident.old_number
        else None,
        name=_clean_name(req.name),
        birth_date=ident.birth_date,
        gender=ident.gender,
        village_code=req.village_code,
        phone_enc=seal_phone(ctx, req.phone, person_id),
        household_id=req.household_id,
        student=req.student,
        urban_employee_pension=req.urban_employee_pension,
        severely_disabled=req.severely_disabled,
        homebound=req.homebound,
        enrolled_on=req.enrolled_on,
    )
    s.add(person)
    s.flush()
    for parent in parents:
        s.add(PersonParent(person_id=person_id, parent_id=parent.id))
    ledger.open_person_accounts(s, person_id)
    _record(ctx, person_id, "enrolled", None, req.enrolled_on.isoformat(), "enrolment")
    return person


def _check_declared(req: Enrolment, ident: idnumber.IdNumber) -> None:
    errors = []
    if req.birth_date is not None and req.birth_date != ident.birth_date:
        errors.append(
            {
                "field": "birth_date",
                "message": f"the ID number says born {ident.birth_date.isoformat()}, not {req.birth_date.isoformat()}",
            }
        )
    if req.gender is not None and req.gender != ident.gender:
        errors.append(
            {"field": "gender", "message": f"the ID number says {ident.gender}, not {req.gender}"}
        )
    if errors:
        raise InvalidInput(
            "the declared birth date or gender disagrees with the ID number", errors=errors
        )


def _check_eligible(ctx: Ctx, req: Enrolment, ident: idnumber.IdNumber) -> None:
    if req.enrolled_on > ctx.today:
        raise field_error("enrolled_on", "the enrolment date is in the future")
    if req.enrolled_on < ctx.policy.scheme_start:
        raise field_error(
            "enrolled_on",
            f"the scheme started on {ctx.policy.scheme_start.isoformat()}; no enrolment before it",
        )
    if ident.birth_date > req.enrolled_on:
        raise field_error(
            "id_number", "the birth date in the ID number is after the enrolment date"
        )
    age = idnumber.age_on(ident.birth_date, req.enrolled_on)
    if age < MIN_ENROL_AGE:
        raise RuleRefused(
            f"only residents aged {MIN_ENROL_AGE} or over may enrol; this person is {age} on {req.enrolled_on.isoformat()}"
        )
    if req.student:
        raise RuleRefused("students in school may not enrol")
    if req.urban_employee_pension:
        raise RuleRefused(
            "a member of the urban employee pension may not enrol in the resident pension"
        )


def _existing_persons(ctx: Ctx, ids: list[str]) -> list[Person]:
    found = ctx.session.exec(select(Person).where(col(Person.id).in_(ids))).all() if ids else []
    missing = sorted(set(ids) - {p.id for p in found})
    if missing:
        raise field_error("parent_person_ids", f"unknown persons: {', '.join(missing)}")
    return list(found)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise field_error("name", "a name has 1 to 100 characters")
    return name


def get(ctx: Ctx, person_id: str) -> Person:
    person = ctx.session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    return person


def check_village_scope(ctx: Ctx, person: Person) -> None:
    """Field workers see only the people of their own villages."""
    if ctx.actor.role == "field_worker" and person.village_code not in ctx.actor.villages:
        raise Forbidden("this person is not in one of your villages", code="not_assigned")


def readable(ctx: Ctx, person_id: str, resident_session: str | None = None) -> Person:
    """The person, if the caller may read them: a field worker only in their own villages, a
    kiosk only inside that resident's session (card + verified face)."""
    person = get(ctx, person_id)
    check_village_scope(ctx, person)
    kiosk_sessions.require(ctx, resident_session, person_id)
    return person


def lock(ctx: Ctx, person_id: str) -> Person:
    """The person, row-locked until the transaction ends: one money operation per person at a time."""
    person = ctx.session.exec(
        select(Person).where(Person.id == person_id).with_for_update()
    ).first()
    if person is None:
        raise NotFound(f"no person {person_id}")
    return person


def find_by_id_number(ctx: Ctx, raw: str) -> Person:
    ident = idnumber.parse(raw)
    rows = ctx.session.exec(
        select(Person)
        .where(Person.id_hash == ctx.keyring.lookup_hash(ident.number))
        .order_by(col(Person.created_at).desc())
    ).all()
    live = [p for p in rows if p.status != "cancelled"]
    if not rows:
        raise NotFound("no person with this ID number")
    return (live or rows)[0]


def id_number_of(ctx: Ctx, person: Person) -> str:
    return ctx.keyring.decrypt_text(person.id_number_enc, person.id)


def sees_full_id_numbers(ctx: Ctx) -> bool:
    """Whether the caller's role may see ID numbers whole (FULL_ID_ROLES)."""
    return ctx.actor.role in FULL_ID_ROLES


def shown_id_number(ctx: Ctx, number: str) -> str:
    """An ID number as the caller may see it: whole for FULL_ID_ROLES, masked for the rest."""
    return number if sees_full_id_numbers(ctx) else idnumber.mask(number)


def person_view(ctx: Ctx, person: Person) -> PersonOut:
    """The person as the caller may see them: in their villages only, ID numbers masked
    unless the role needs them whole."""
    check_village_scope(ctx, person)
    number = id_number_of(ctx, person)
    old = (
        ctx.keyring.decrypt_text(person.old_id_number_enc, person.id)
        if person.old_id_number_enc
        else None
    )
    return PersonOut(
        person_id=person.id,
        id_number=shown_id_number(ctx, number),
        id_number_masked=idnumber.mask(number),
        old_id_number=shown_id_number(ctx, old) if old else None,
        name=person.name,
        birth_date=person.birth_date,
        gender=person.gender,
        village_code=person.village_code,
        phone=phone_of(ctx, person),
        household_id=person.household_id,
        parent_person_ids=parents_of(ctx, person.id),
        student=person.student,
        urban_employee_pension=person.urban_employee_pension,
        severely_disabled=person.severely_disabled,
        homebound=person.homebound,
        enrolled_on=person.enrolled_on,
        status=person.status,
    )


def parents_of(ctx: Ctx, person_id: str) -> list[str]:
    return list(
        ctx.session.exec(
            select(PersonParent.parent_id).where(PersonParent.person_id == person_id)
        ).all()
    )


def children_of(ctx: Ctx, person_id: str) -> list[str]:
    return list(
        ctx.session.exec(
            select(PersonParent.person_id).where(PersonParent.parent_id == person_id)
        ).all()
    )


def change(ctx: Ctx, person_id: str, changes: dict[str, object], reason: str) -> Person:
    person = _live(ctx, person_id)
    unknown = sorted(set(changes) - set(CHANGEABLE))
    if unknown:
        raise InvalidInput(f"these fields cannot be changed here: {', '.join(unknown)}")
    if not reason.strip():
        raise field_error("reason", "a change needs a reason")
    if "village_code" in changes and ctx.session.get(Village, str(changes["village_code"])) is None:
        raise field_error("village_code", f"unknown village code {changes['village_code']!r}")
    if "name" in changes:
        changes["name"] = _clean_name(str(changes["name"]))
    for name, value in changes.items():
        if name == "phone":
            _change_phone(ctx, person, value, reason)
            continue
        old = getattr(person, name)
        if old != value:
            setattr(person, name, value)
            _record(ctx, person_id, name, _text(old), _text(value), reason)
    person.updated_at = utcnow()
    ctx.session.add(person)
    return person


def seal_phone(ctx: Ctx, phone: str | None, person_id: str) -> bytes | None:
    return ctx.keyring.encrypt_text(phone, person_id) if phone else None


def phone_of(ctx: Ctx, person: Person) -> str | None:
    """The person's phone number, decrypted (it is stored sealed like the ID number)."""
    return ctx.keyring.decrypt_text(person.phone_enc, person.id) if person.phone_enc else None


def mask_phone(phone: str | None) -> str | None:
    """13912345678 -> 139****5678: what the change history keeps of a phone number."""
    if not phone:
        return None
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else "****"


def _change_phone(ctx: Ctx, person: Person, value: object, reason: str) -> None:
    old = phone_of(ctx, person)
    new = str(value) if value else None
    if old != new:
        person.phone_enc = seal_phone(ctx, new, person.id)
        # the history is read by every staff role: it keeps the number masked
        _record(ctx, person.id, "phone", mask_phone(old), mask_phone(new), reason)


def other_live_records(ctx: Ctx, person: Person) -> list[str]:
    """Other records, not cancelled, of this person's ID number: the duplicates stored before
    numbers were canonical (backend/identity_audit.py). Those are found by the canonical form's
    hash (when `person` is the duplicate) or among the records held as duplicates (when `person`
    is the one kept; they are few, so each is read)."""
    from backend.identity_audit import REASON, loose_canonical
    from backend.models import Suspension

    number = loose_canonical(id_number_of(ctx, person))
    by_hash = ctx.session.exec(
        select(Person).where(
            Person.id_hash == ctx.keyring.lookup_hash(number),
            Person.id != person.id,
            Person.status != "cancelled",
        )
    ).all()
    held = ctx.session.exec(
        select(Person)
        .join(Suspension, col(Suspension.person_id) == col(Person.id))
        .where(
            Suspension.reason == REASON,
            col(Suspension.lifted_at).is_(None),
            Person.id != person.id,
            Person.status != "cancelled",
        )
    ).all()
    same = {p.id for p in by_hash}
    same |= {p.id for p in held if loose_canonical(id_number_of(ctx, p)) == number}
    return sorted(same)


def cancel(ctx: Ctx, person_id: str, cancelled_on: date, reason: str) -> Person:
    person = _live(ctx, person_id)
    if person.status in ("receiving", "suspended") and not other_live_records(ctx, person):
        # one of two records of one person may be cancelled: it stops a payment, never starts one
        raise RuleRefused("a person drawing a pension is terminated, not cancelled")
    if not reason.strip():
        raise field_error("reason", "a cancellation needs a reason")
    if cancelled_on > ctx.today:
        raise field_error("cancelled_on", "the cancellation date is in the future")
    _set_status(ctx, person, "cancelled", reason)
    person.cancelled_on, person.cancel_reason = cancelled_on, reason
    return person


def freeze(ctx: Ctx, person_id: str, reason: str) -> Person:
    person = _live(ctx, person_id)
    if person.status == "frozen":
        raise Conflict("the account is already frozen")
    if not reason.strip():
        raise field_error("reason", "freezing an account needs a reason")
    # remember what to go back to when unfrozen
    person.frozen_reason = f"{person.status}|{reason}"
    _set_status(ctx, person, "frozen", reason)
    return person


def unfreeze(ctx: Ctx, person_id: str, reason: str) -> Person:
    person = get(ctx, person_id)
    if person.status != "frozen":
        raise Conflict("the account is not frozen")
    previous = (person.frozen_reason or "enrolled|").split("|", 1)[0]
    person.frozen_reason = None
    _set_status(ctx, person, previous, reason or "unfrozen")
    return person


def history(ctx: Ctx, person_id: str) -> list[PersonChange]:
    get(ctx, person_id)
    return list(
        ctx.session.exec(
            select(PersonChange)
            .where(PersonChange.person_id == person_id)
            .order_by(col(PersonChange.id))
        ).all()
    )


def change_village(ctx: Ctx, code: str, changes: dict[str, object]) -> Village:
    """Set a village's name, township or location (validated by the API's schema). Audited
    with the old and new values: moving a village's "home" changes which certifications are
    referred as far from it."""
    village = ctx.session.get(Village, code)
    if village is None:
        raise NotFound(f"no village {code}")
    before = {name: getattr(village, name) for name in changes}
    for name, value in changes.items():
        setattr(village, name, value)
    ctx.session.add(village)
    audit.record(ctx, "village.change", code, before=before, after=changes)
    return village


def _live(ctx: Ctx, person_id: str) -> Person:
    person = get(ctx, person_id)
    if person.status in ("cancelled", "terminated"):
        raise Conflict(f"the person's record is {person.status}; it can no longer be changed")
    return person


def _set_status(ctx: Ctx, person: Person, status: str, reason: str) -> None:
    _record(ctx, person.id, "status", person.status, status, reason)
    person.status = status
    person.updated_at = utcnow()
    ctx.session.add(person)


def _record(
    ctx: Ctx, person_id: str, field: str, old: str | None, new: str | None, reason: str
) -> None:
    ctx.session.add(
        PersonChange(
            person_id=person_id,
            field=field,
            old_value=old,
            new_value=new,
            reason=reason,
            changed_by=ctx.actor.label,
        )
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
