"""Resident sessions at a kiosk: card + verified face → a short-lived token for the person's own data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlmodel import Session

from backend.api import deps
from backend.services import help_requests, kiosk
from backend.services.context import Actor
from backend.services.kiosk import KioskSessionOut
from backend.validation import Line

router = APIRouter(prefix="/api/v1/kiosk", tags=["kiosk"])


@router.post("/sessions", status_code=201, response_model=KioskSessionOut)
def open_session(
    request: Request,
    # Annotated, so that the shared text check runs on form fields too (backend/validation)
    id_number: Annotated[Line, Form(min_length=1, max_length=40)],
    name: Annotated[Line, Form(min_length=1, max_length=100)],
    image: UploadFile = File(...),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("kiosk")),
) -> KioskSessionOut:
    photo = image.file.read()
    kiosk.probe_face(photo)
    return kiosk.open_session(deps.ctx_for(request, session, who), id_number, name, photo)


@router.delete("/sessions/{session_token}", status_code=204)
def close_session(
    request: Request,
    session_token: str = PathParam(max_length=400),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("kiosk")),
) -> Response:
    kiosk.close_session(deps.ctx_for(request, session, who), session_token)
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
