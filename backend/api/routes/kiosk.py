"""Resident sessions at a kiosk: card + verified face → a short-lived token for the person's own data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlmodel import Session

from backend.api import deps
from backend.errors import Forbidden
from backend.services import (
    audit,
    certification,
    certification_status,
    face_engine,
    faces,
    help_requests,
    kiosk_sessions,
)
from backend.services.context import Actor
from backend.validation import Line

router = APIRouter(prefix="/api/v1/kiosk", tags=["kiosk"])


@router.post("/sessions", status_code=201)
def open_session(
    request: Request,
    # Annotated, so that the shared text check runs on form fields too (backend/validation)
    id_number: Annotated[Line, Form(min_length=1, max_length=40)],
    name: Annotated[Line, Form(min_length=1, max_length=100)],
    image: UploadFile = File(...),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("kiosk")),
) -> dict[str, object]:
    data = image.file.read()
    face_engine.probe(data)  # the face work before the transaction starts (the result is cached)
    ctx = deps.ctx_for(request, session, who)
    person, card_ok = certification.person_of(
        ctx,
        certification.Submission(
            channel="kiosk", challenge_id="", nonce="", images=(), id_number=id_number, name=name
        ),
    )
    if not card_ok:
        # distinct codes: the kiosk tells a card whose name is written differently (王秀蘭 / 王秀兰)
        # from a face that is not the holder's
        raise Forbidden("the card does not match the registry", code="card_mismatch")
    check = faces.verify(ctx, person.id, data)
    if check["outcome"] != "passed":
        raise Forbidden(
            "the face does not match the card holder's enrolled face", code="face_mismatch"
        )
    token, ttl = kiosk_sessions.open_session(ctx, person.id)
    audit.record(ctx, "kiosk.session.open", person.id)
    last = certification_status.latest_valid(ctx, person.id, ctx.today)
    valid_until = last.valid_until if last else None
    return {
        "session_token": token,
        "person_id": person.id,
        "expires_in": ttl,
        "header": kiosk_sessions.HEADER,
        "status": person.status,
        # what the menu offers: certification is due for pensioners not certified for today
        "certification": {
            "valid_until": valid_until.isoformat() if valid_until else None,
            "due": person.status in ("receiving", "suspended")
            and (valid_until is None or valid_until < ctx.today),
        },
    }


@router.delete("/sessions/{session_token}", status_code=204)
def close_session(
    request: Request,
    session_token: str = PathParam(max_length=400),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("kiosk")),
) -> Response:
    # the token is refused from now on, on every worker (it would expire within minutes)
    ctx = deps.ctx_for(request, session, who)
    person_id = kiosk_sessions.end(ctx, session_token)
    audit.record(ctx, "kiosk.session.end", person_id)
    return Response(status_code=204)


class HelpRequestIn(BaseModel):
    screen: str = Field(default="", max_length=40, pattern=r"^[a-z_]*$")


class HelpRequestOut(BaseModel):
    request_id: str
    device_id: str
    location: str
    screen: str
    created_at: str


@router.post("/help-requests", status_code=201, response_model=HelpRequestOut)
def ask_for_help(
    body: HelpRequestIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("kiosk")),
) -> dict[str, object]:
    """A resident pressed 请工作人员帮忙: the console's help list shows the kiosk and its place."""
    ctx = deps.ctx_for(request, session, who)
    return help_requests.out(help_requests.open_request(ctx, body.screen))
