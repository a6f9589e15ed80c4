"""Field workers: the work list to take offline, and visits that end without a face check."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlmodel import Session

from backend.answers import AttachmentsOut, VisitOut, WorklistOut
from backend.api import deps
from backend.api.routes.archives import archive_dir
from backend.api.routes.faces import ID_PATTERN, read_files
from backend.services import field, idempotency
from backend.services.context import Actor
from backend.validation import StrictChecked, Text

router = APIRouter(prefix="/api/v1/field", tags=["field"])


class VisitIn(StrictChecked):
    client_id: str = Field(
        min_length=8,
        max_length=80,
        pattern=ID_PATTERN,
        description="made on the device; the idempotency key",
    )
    person_id: str = Field(min_length=1, max_length=32, pattern=ID_PATTERN)
    outcome: Literal["not_at_home", "reported_dead", "refer_failed"]
    visited_at: str = Field(min_length=10, max_length=40)
    listed_on: date | None = Field(default=None, description="when the work list was downloaded")
    note: Text = Field(default="", max_length=2000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=1_000_000)
    date_of_death: date | None = None
    certification_id: str | None = Field(
        default=None,
        max_length=40,
        pattern=ID_PATTERN,
        description="refer_failed: the failed field certification",
    )


@router.get("/worklist", response_model=WorklistOut)
def worklist(
    request: Request,
    village: str | None = Query(default=None, max_length=24, pattern=ID_PATTERN),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("field_worker")),
) -> WorklistOut:
    return field.worklist(deps.ctx_for(request, session, who), village)


@router.post("/visits", status_code=201, response_model=VisitOut)
def visit(
    body: VisitIn, request: Request, who: Actor = Depends(deps.require("field_worker"))
) -> JSONResponse:
    v = field.Visit(**body.model_dump())

    def work(session: Session) -> idempotency.Reply:
        done = field.record_visit(deps.ctx_for(request, session, who), v)
        return idempotency.Reply(201, done.model_dump(mode="json"))

    # the client_id is the key: an outbox that resends after a lost answer gets the first one
    return deps.idempotent(
        request, "POST /field/visits", body.client_id, body.model_dump(mode="json"), work
    )


# sync route: FastAPI runs it in its thread pool (PDF rendering, file I/O and encryption)
@router.post("/visits/{client_id}/attachments", status_code=201, response_model=AttachmentsOut)
def attachments(
    request: Request,
    # Annotated, so that the shared text check runs on form fields too (backend/validation)
    attestation: Annotated[Text, Form(min_length=1, max_length=2000)],
    client_id: str = Path(min_length=8, max_length=80, pattern=ID_PATTERN),
    person_id: str = Form(..., min_length=1, max_length=32, pattern=ID_PATTERN),
    note: Annotated[Text, Form(max_length=2000)] = "",
    documents: list[UploadFile] = File(default=[]),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require("field_worker")),
) -> AttachmentsOut:
    return field.attach(
        deps.ctx_for(request, session, who),
        archive_dir(request),
        client_id,
        person_id,
        attestation,
        note,
        read_files(documents, "documents", 5),
    )
