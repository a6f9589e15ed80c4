"""SMS notices: family contacts, a person's notices and their delivery, gateway receipts."""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlmodel import Session

from backend.answers_notices import (
    FamilyContactCreatedOut,
    FamilyContactOut,
    NoticeOut,
    NoticePlanOut,
    ReceiptAppliedOut,
)
from backend.api import deps
from backend.api.routes.faces import PersonId
from backend.errors import Unauthorized, field_error
from backend.services import notices
from backend.services.context import SYSTEM, Actor
from backend.sms import parse_receipt
from backend.validation import StrictChecked, Text

router = APIRouter(prefix="/api/v1", tags=["notices"])
# the gateway's callback: its own bearer token (not a staff token), so not under `router`'s
# staff dependencies (those would read the gateway's token as a staff JWT and refuse it)
gateway_router = APIRouter(prefix="/api/v1", tags=["notices"])
READERS = ("admin", "clerk", "reviewer", "auditor")


class FamilyContactIn(StrictChecked):
    name: Text = Field(min_length=1, max_length=100)
    relation: Literal["spouse", "child", "grandchild", "sibling", "other"]
    phone: str = Field(min_length=5, max_length=21, pattern=r"^\+?\d{5,20}$")
    receives_notices: bool = False


@router.post(
    "/persons/{person_id}/family-contacts", status_code=201, response_model=FamilyContactCreatedOut
)
def add_family_contact(
    body: FamilyContactIn,
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin", "clerk")),
) -> FamilyContactCreatedOut:
    ctx = deps.ctx_for(request, session, who)
    contact = notices.add_family_contact(
        ctx,
        person_id,
        name=body.name,
        relation=body.relation,
        phone=body.phone,
        receives_notices=body.receives_notices,
    )
    return FamilyContactCreatedOut(contact_id=contact.id)


@router.get("/persons/{person_id}/family-contacts", response_model=list[FamilyContactOut])
def family_contacts(
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*READERS)),
) -> list[FamilyContactOut]:
    return notices.family_contacts(deps.ctx_for(request, session, who), person_id)


@router.get("/persons/{person_id}/notices", response_model=list[NoticeOut])
def person_notices(
    request: Request,
    person_id: str = PersonId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*READERS)),
) -> list[NoticeOut]:
    return notices.for_person(deps.ctx_for(request, session, who), person_id)


@router.post("/notices/plan", response_model=NoticePlanOut)
def plan(
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("admin")),
) -> NoticePlanOut:
    """Queue the notices today's state calls for (the background sender does this too)."""
    return notices.plan(deps.ctx_for(request, session, who))


@gateway_router.post("/sms/receipts", response_model=ReceiptAppliedOut)
def sms_receipt(
    payload: dict[str, Any], request: Request, session: Session = deps.DbSession
) -> ReceiptAppliedOut:
    """A delivery receipt posted by the SMS gateway, with the configured bearer token."""
    expected = deps.state(request).settings.sms_receipt_token
    given = deps.bearer_token(request.headers) or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("the gateway's receipt token is missing or wrong")
    try:
        receipt = parse_receipt(payload)
    except ValueError as exc:
        raise field_error("receipt", str(exc)) from None
    ctx = deps.ctx_for(request, session, SYSTEM)
    return ReceiptAppliedOut(applied=notices.apply_receipt(ctx, receipt))
