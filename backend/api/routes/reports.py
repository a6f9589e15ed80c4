"""Reports: on screen (JSON), or as CSV, XLSX, PDF; charts as PNG (`format=png`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from backend.answers_staff import ReportOut
from backend.api import deps
from backend.errors import NotFound
from backend.reports import service
from backend.reports.render import MEDIA_TYPES, render
from backend.services.context import Actor

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Format = Literal["json", "csv", "xlsx", "pdf", "png"]
# money reports: the centre's own staff and the auditors; work lists also field workers (own villages)
MONEY_ROLES = ("admin", "clerk", "auditor")
VILLAGE_ROLES = ("admin", "clerk", "auditor", "reviewer", "field_worker")
# `format=json` (the default) answers the report on screen (ReportOut); any other format a file
FILES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the report: on screen (JSON), or a file in the `format` asked for",
        "content": {
            **{media.split(";")[0]: {} for fmt, media in MEDIA_TYPES.items() if fmt != "json"},
            "image/png": {},
        },
    }
}


def _answer(
    request: Request, s: Session, who: Actor, kind: str, p: service.Params, fmt: str
) -> Response:
    st = deps.state(request)
    if who.role == "field_worker":
        p.allowed = who.villages
    report = service.build(
        s, st.keyring, st.policy, kind, p, data_dir=st.settings.data_dir, today=st.today()
    )
    if fmt == "json":
        return JSONResponse(ReportOut.model_validate(report.as_json()).model_dump(mode="json"))
    if fmt == "png":
        if not report.charts:
            raise NotFound(f"the {kind} report has no chart")
        return Response(report.charts[0].draw(), media_type="image/png")
    name = f"{service.file_stem(report)}.{fmt}"
    return Response(
        render(report, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/monthly-statement/{run_id}", response_model=ReportOut, responses=FILES)
def monthly_statement(
    run_id: str,
    request: Request,
    village: str | None = None,
    format: Format = "json",
    s: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*MONEY_ROLES)),
) -> Response:
    """每月明细表: who a payroll run paid, village by village, every component."""
    return _answer(
        request, s, who, "monthly-statement", service.Params(run_id=run_id, village=village), format
    )


@router.get("/fund/{year}", response_model=ReportOut, responses=FILES)
def fund(
    year: int,
    request: Request,
    format: Format = "json",
    s: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*MONEY_ROLES)),
) -> Response:
    """基金收支: income by source, expenditure by kind, opening and closing balance (= the ledger)."""
    return _answer(request, s, who, "fund", service.Params(year=year), format)


@router.get("/coverage/{year}", response_model=ReportOut, responses=FILES)
def coverage(
    year: int,
    request: Request,
    village: str | None = None,
    format: Format = "json",
    s: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*MONEY_ROLES)),
) -> Response:
    """Enrolment, continuation and take-up by village, with the trend since the scheme start."""
    return _answer(request, s, who, "coverage", service.Params(year=year, village=village), format)


@router.get("/publicity/{year}", response_model=ReportOut, responses=FILES)
def publicity(
    year: int,
    request: Request,
    village: str | None = None,
    format: Format = "json",
    s: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*VILLAGE_ROLES)),
) -> Response:
    """公示: the year's contributors and pensioners of a village, names and ID numbers masked."""
    return _answer(request, s, who, "publicity", service.Params(year=year, village=village), format)


@router.get("/certification", response_model=ReportOut, responses=FILES)
def certification(
    request: Request,
    on: date | None = Query(default=None),
    village: str | None = None,
    format: Format = "json",
    s: Session = deps.DbSession,
    who: Actor = Depends(deps.require(*VILLAGE_ROLES)),
) -> Response:
    """Certified, due (within the policy's `certification.due_soon_days`), overdue, suspended:
    per village, with the work list."""
    return _answer(request, s, who, "certification", service.Params(on=on, village=village), format)
