"""Grievances (申诉/信访): record, assign, resolve, list (overdue ones first of all)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import Field
from sqlmodel import Session

from backend.answers_notices import GrievanceOut
from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.services import grievances
from backend.services.context import Actor
from backend.validation import Line, StrictChecked, Text

router = APIRouter(prefix="/api/v1", tags=["grievances"])
WRITERS = ("admin", "clerk")
HANDLERS = ("admin", "clerk", "reviewer")
READERS = ("admin", "clerk", "reviewer", "auditor")
GrievanceId = PathParam(max_length=40, pattern=ID_PATTERN)
Category = Literal["suspension", "termination", "payment", "certification", "other"]
DecisionKind = Literal["suspension", "termination", "certification", "review_case"]


class GrievanceIn(StrictChecked):
    person_id: str = Field(min_length=1, max_length=32, pattern=ID_PATTERN)
    category: Category
    description: Text = Field(min_length=1, max_length=4000)
    source: Literal["staff", "kiosk"] = "staff"
    source_ref: Line | None = Field(default=None, max_length=80)
    decision_kind: DecisionKind | None = None
    decision_id: str | None = Field(default=None, max_length=40, pattern=ID_PATTERN)
    assignee: str | None = Field(default=None, max_length=64)
    received_on: date | None = None


class AssignIn(StrictChecked):
    assignee: str = Field(min_length=1, max_length=64)


class ResolveIn(StrictChecked):
    outcome: Literal["upheld", "not_upheld"]
    resolution: Text = Field(min_length=1, max_length=4000)
    decision_kind: DecisionKind | None = None
    decision_id: str | None = Field(default=None, max_length=40, pattern=ID_PATTERN)


@router.post("/grievances", status_code=201, response_model=GrievanceOut)
def record(
    body: GrievanceIn,
    request: Request,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*WRITERS)),
) -> GrievanceOut:
    ctx = deps.ctx_for(request, session, who)
    row = grievances.record(ctx, **body.model_dump())
    return grievances.out(ctx, row)


@router.get("/grievances", response_model=list[GrievanceOut])
def listing(
    request: Request,
    status: Literal["open", "resolved", "all"] = "open",
    overdue: bool = False,
    person_id: str | None = Query(default=None, max_length=32, pattern=ID_PATTERN),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*READERS)),
) -> list[GrievanceOut]:
    ctx = deps.ctx_for(request, session, who)
    return grievances.listing(ctx, status=status, overdue=overdue, person_id=person_id)


@router.get("/grievances/{grievance_id}", response_model=GrievanceOut)
def detail(
    request: Request,
    grievance_id: str = GrievanceId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*READERS)),
) -> GrievanceOut:
    return grievances.detail(deps.ctx_for(request, session, who), grievance_id)


@router.post("/grievances/{grievance_id}/assign", response_model=GrievanceOut)
def assign(
    body: AssignIn,
    request: Request,
    grievance_id: str = GrievanceId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*HANDLERS)),
) -> GrievanceOut:
    ctx = deps.ctx_for(request, session, who)
    return grievances.out(ctx, grievances.assign(ctx, grievance_id, body.assignee))


@router.post("/grievances/{grievance_id}/resolve", response_model=GrievanceOut)
def resolve(
    body: ResolveIn,
    request: Request,
    grievance_id: str = GrievanceId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*HANDLERS)),
) -> GrievanceOut:
    ctx = deps.ctx_for(request, session, who)
    row = grievances.resolve(ctx, grievance_id, **body.model_dump())
    return grievances.out(ctx, row)
