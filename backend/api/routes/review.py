"""The county review API (the console in backend/console uses the same services)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field
from sqlmodel import Session

from backend.answers_staff import ReviewCaseDetailOut, ReviewCaseOut, ReviewDecisionOut
from backend.api import deps
from backend.api.routes.faces import ID_PATTERN
from backend.api.routes.receipts import signing_key
from backend.services import review
from backend.services.context import Actor
from backend.validation import StrictChecked, Text

router = APIRouter(prefix="/api/v1/review", tags=["review"])
REVIEWERS = ("reviewer",)
CaseId = Path(max_length=40, pattern=ID_PATTERN)
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url, no padding


class DecisionIn(StrictChecked):
    decision: Literal["approve", "reject", "field_visit", "suspend", "terminate"]
    note: Text = Field(min_length=1, max_length=2000)
    # terminate only: required when a first reviewer proposes it; the second reviewer may
    # leave them out (or restate them) to confirm what was proposed
    terminate_reason: Literal["death", "other_pension"] | None = Field(
        default=None, description="terminate: death, or the urban employee pension found"
    )
    effective_on: date | None = Field(
        default=None,
        description="terminate: the date of death, or the date the other pension started",
    )


@router.get("/cases", response_model=list[ReviewCaseOut])
def cases(
    request: Request,
    response: Response,
    status: Literal["open", "pending_second", "closed", "all"] = "open",
    village: str | None = Query(default=None, max_length=24, pattern=ID_PATTERN),
    reason: str | None = Query(default=None, max_length=40, pattern=ID_PATTERN),
    min_age: int | None = Query(default=None, ge=0, le=150),
    max_age: int | None = Query(default=None, ge=0, le=150),
    limit: int = Query(default=review.DEFAULT_LIMIT, ge=1, le=review.MAX_LIST),
    after: str | None = Query(default=None, max_length=200, pattern=CURSOR_PATTERN),
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*REVIEWERS)),
) -> list[ReviewCaseOut]:
    """Oldest first, `limit` at a time; X-Total-Count is every case matching the filters,
    and Link rel="next" (the same query, `after` the last row) is there while more remain."""
    page = review.list_cases(
        deps.ctx_for(request, session, who),
        status,
        village,
        reason,
        min_age,
        max_age,
        limit=limit,
        after=after,
    )
    response.headers["X-Total-Count"] = str(page.total)
    if page.next_after:
        response.headers["Link"] = f'<{next_url(request, page.next_after)}>; rel="next"'
    return [ReviewCaseOut.model_validate(row) for row in page.rows]


def next_url(request: Request, after: str) -> str:
    """Relative (path and query), so that it stays right behind the county's reverse proxy."""
    url = request.url.include_query_params(after=after)
    return f"{url.path}?{url.query}"


@router.get("/cases/{case_id}", response_model=ReviewCaseDetailOut)
def case(
    request: Request,
    case_id: str = CaseId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*REVIEWERS)),
) -> ReviewCaseDetailOut:
    return ReviewCaseDetailOut.model_validate(
        review.detail(deps.ctx_for(request, session, who), case_id)
    )


@router.post(
    "/cases/{case_id}/decision", response_model=ReviewDecisionOut, response_model_exclude_unset=True
)
def decide(
    body: DecisionIn,
    request: Request,
    case_id: str = CaseId,
    session: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*REVIEWERS)),
) -> ReviewDecisionOut:
    """The optional fields of the answer are sent only where they apply."""
    return ReviewDecisionOut.model_validate(
        review.decide(
            deps.ctx_for(request, session, who),
            signing_key(request),
            case_id,
            body.decision,
            body.note,
            body.terminate_reason,
            body.effective_on,
        )
    )
