"""Villages and the registry of persons."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import Session, select

from backend import idnumber
from backend.api import deps
from backend.errors import Conflict
from backend.models import Person, Village
from backend.schemas import (
    CancelIn,
    ChangeOut,
    PersonChangeIn,
    PersonCreated,
    PersonIn,
    PersonOut,
    ReasonIn,
    VillageIn,
    VillageOut,
    VillagePatchIn,
)
from backend.services import audit, registry
from backend.services.context import Actor, Ctx

router = APIRouter(prefix="/api/v1", tags=["registry"])
WRITERS = ("clerk", "admin")


@router.post("/villages", response_model=VillageOut, status_code=201)
def add_village(
    body: VillageIn,
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require("admin")),
) -> VillageOut:
    if session.get(Village, body.code):
        raise Conflict(f"village {body.code} already exists")
    session.add(Village(**body.model_dump()))
    return VillageOut(**body.model_dump())


@router.get("/villages", response_model=list[VillageOut])
def list_villages(
    session: Session = deps.DbSession,
    _: Actor = Depends(deps.require(*deps.STAFF)),
) -> list[VillageOut]:
    return [village_out(v) for v in session.exec(select(Village).order_by(Village.code)).all()]


@router.patch("/villages/{code}", response_model=VillageOut)
def change_village(
    code: str,
    body: VillagePatchIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),  # as creating one
) -> VillageOut:
    ctx = deps.ctx_for(request, session, who)
    return village_out(registry.change_village(ctx, code, body.model_dump(exclude_unset=True)))


def village_out(v: Village) -> VillageOut:
    return VillageOut(
        code=v.code, name=v.name, township=v.township, latitude=v.latitude, longitude=v.longitude
    )


@router.post("/persons", response_model=PersonCreated, status_code=201)
def enrol(
    body: PersonIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> PersonCreated:
    ctx = deps.ctx_for(request, session, who)
    person = registry.enrol(ctx, registry.Enrolment(**body.model_dump()))
    return PersonCreated(
        person_id=person.id,
        birth_date=person.birth_date,
        gender=person.gender,
        status=person.status,
        id_number_masked=idnumber.mask(registry.id_number_of(ctx, person)),
    )


@router.get("/persons", response_model=PersonOut)
def find(
    request: Request,
    id_number: str = Query(min_length=1, max_length=40),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    out = person_out(ctx, registry.find_by_id_number(ctx, id_number))
    audit.record(
        ctx, "read person", out.person_id
    )  # a look-up by ID number is a read of personal data
    return out


@router.get("/persons/{person_id}", response_model=PersonOut)
def get(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    out = person_out(ctx, registry.get(ctx, person_id))
    audit.record(ctx, "read person", person_id)  # reads of personal data are audited too
    return out


@router.patch("/persons/{person_id}", response_model=PersonOut)
def change(
    person_id: str,
    body: PersonChangeIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    return person_out(ctx, registry.change(ctx, person_id, changes, body.reason))


@router.post("/persons/{person_id}/cancel", response_model=PersonOut)
def cancel(
    person_id: str,
    body: CancelIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    return person_out(ctx, registry.cancel(ctx, person_id, body.cancelled_on, body.reason))


@router.post("/persons/{person_id}/freeze", response_model=PersonOut)
def freeze(
    person_id: str,
    body: ReasonIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    return person_out(ctx, registry.freeze(ctx, person_id, body.reason))


@router.post("/persons/{person_id}/unfreeze", response_model=PersonOut)
def unfreeze(
    person_id: str,
    body: ReasonIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> PersonOut:
    ctx = deps.ctx_for(request, session, who)
    return person_out(ctx, registry.unfreeze(ctx, person_id, body.reason))


@router.get("/persons/{person_id}/history", response_model=list[ChangeOut])
def history(
    person_id: str,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*deps.STAFF)),
) -> list[ChangeOut]:
    ctx = deps.ctx_for(request, session, who)
    registry.readable(ctx, person_id)
    return [
        ChangeOut(
            field=c.field,
            old_value=c.old_value,
            new_value=c.new_value,
            reason=c.reason,
            changed_by=c.changed_by,
            changed_at=c.changed_at.isoformat(),
        )
        for c in registry.history(ctx, person_id)
    ]


def person_out(ctx: Ctx, person: Person) -> PersonOut:
    return registry.person_view(ctx, person)
