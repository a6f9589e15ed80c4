"""The county review console: server-rendered pages under /console for reviewers.

Plain HTML forms and CSS, no JavaScript, so it works on an old office browser. Sign-in puts
the same JWT the API uses into an HttpOnly, SameSite=Strict cookie; every form also carries
a CSRF token derived from that JWT. Chinese by default, English with ?lang=en (remembered).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from backend.api import deps
from backend.api.routes.archives import archive_dir, content_response
from backend.api.routes.faces import ID_PATTERN
from backend.api.routes.receipts import signing_key
from backend.console.texts import DETAILS, REASONS, TEXT
from backend.errors import DomainError, TooManyRequests, field_error
from backend.services import archives, audit, auth, login_limits, queue, review
from backend.services.context import Actor, Ctx
from backend.validation import bad_character

HERE = Path(__file__).parent
COOKIE = "nb_console"
LANG_COOKIE = "nb_lang"
ROLES = ("reviewer",)
CaseId = PathParam(max_length=40, pattern=ID_PATTERN)
DocId = PathParam(max_length=40, pattern=ID_PATTERN)
COUNTY_TZ = ZoneInfo("Asia/Shanghai")  # staff read Beijing time; the database keeps UTC
templates = Jinja2Templates(directory=str(HERE / "templates"))


def _local_time(iso: str) -> str:
    at = datetime.fromisoformat(iso)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return at.astimezone(COUNTY_TZ).strftime("%Y-%m-%d %H:%M")


templates.env.filters["local_time"] = _local_time
router = APIRouter(prefix="/console", include_in_schema=False)


class NeedsLogin(Exception):
    pass


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        return asked
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"


def _csrf(request: Request, token: str) -> str:
    key = deps.state(request).keyring.index_key
    return hmac.new(key, b"console-csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = _lang(request)

    face = deps.state(request).policy.face
    thresholds = {"pass_at": f"{face.pass_at:.2f}", "refer_at": f"{face.refer_at:.2f}"}

    def t(key: str) -> str:
        zh, en = TEXT.get(key, (key, key))
        text = en if lang == "en" else zh
        # only the threshold hint has placeholders; other texts may hold braces of their own
        return text.format(**thresholds) if key == "distance_hint" else text

    def reason_text(code: str) -> str:
        label, _, value = code.partition(":")
        if value and label in DETAILS:
            zh, en = DETAILS[label]
            return f"{en if lang == 'en' else zh}: {value}"
        zh, en = REASONS.get(code, (code, code))
        return en if lang == "en" else zh

    token = request.cookies.get(COOKIE, "")
    # a page rendered in answer to a POST toggles the language on the page it shows
    here = context.pop("page_path", None) or request.url.path + (
        "?" + urlencode([(k, v) for k, v in request.query_params.items() if k != "lang"])
        if request.query_params
        else ""
    )
    sep = "&" if "?" in here else "?"
    body = {
        "request": request,
        "t": t,
        "reason_text": reason_text,
        "lang": lang,
        "csrf": _csrf(request, token) if token else "",
        "other_lang_url": f"{here}{sep}lang={'zh' if lang == 'en' else 'en'}",
        **context,
    }
    response = templates.TemplateResponse(request, name, body, status_code=status)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict", path="/console")
    return response


def _reviewer(request: Request, session: Session) -> Actor:
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedsLogin
    try:
        who = auth.actor_from_token(session, deps.state(request).keyring, token)
    except DomainError:
        raise NeedsLogin from None
    if who.role not in ROLES:
        raise NeedsLogin
    return who


def _ctx(request: Request, session: Session) -> Ctx:
    return deps.ctx_for(request, session, _reviewer(request, session))


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@router.get("")
def home() -> RedirectResponse:
    return RedirectResponse("/console/cases", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _render(request, "login.html")


@router.post("/login")
def login(
    request: Request,
    username: str = Form(...),
    password: str = Form(...),
    session: Session = deps.DbSession,
) -> Response:
    st = deps.state(request)
    try:
        user = login_limits.sign_in(
            st.engine,
            login_limits.LoginLimits.from_settings(st.settings),
            username,
            password,
            deps.request_client(request),
        )
    except TooManyRequests as exc:
        refused = _render(
            request,
            "login.html",
            429,
            page_path="/console/login",
            error=exc.code or "too_many_attempts",
            username=username,
        )
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    except DomainError:
        return _render(
            request,
            "login.html",
            401,
            page_path="/console/login",
            error="bad_login",
            username=username,
        )
    if user.role not in ROLES:
        return _render(
            request,
            "login.html",
            403,
            page_path="/console/login",
            error="not_reviewer",
            username=username,
        )
    token, ttl = auth.issue_token(st.keyring, user, st.settings.token_ttl_minutes)
    audit.append(session, Actor(kind="user", name=user.username, role=user.role), "console.login")
    response = RedirectResponse("/console/cases", status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=ttl, httponly=True, samesite="strict", path="/console"
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = _to_login()
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/cases", response_class=HTMLResponse)
def cases(
    request: Request,
    status: str = Query(default="open", pattern="^(open|pending_second|closed|all)$"),
    village: str = Query(default="", max_length=24),
    reason: str = Query(default="", max_length=40),
    min_age: int | None = Query(default=None, ge=0, le=150),
    max_age: int | None = Query(default=None, ge=0, le=150),
    after: str = Query(default="", max_length=200),
    session: Session = deps.DbSession,
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    filters = {
        "status": status,
        "village": village,
        "reason": reason,
        "min_age": min_age,
        "max_age": max_age,
    }
    try:
        page = review.list_cases(
            ctx, status, village or None, reason or None, min_age, max_age, after=after or None
        )
    except DomainError as exc:  # a cursor edited by hand
        return _render(
            request, "error.html", exc.status, error_text=exc.detail, user=ctx.actor.name
        )
    # the queue shows names and ID numbers: a staff read of personal data
    audit.record(ctx, "read console cases", f"{status};{village};{reason}", after=filters)
    return _render(
        request,
        "cases.html",
        # highest priority first within the page (the page itself is oldest-first, so a
        # long backlog is still reached page by page)
        cases=queue.prioritised(ctx, page.rows),
        total=page.total,
        first_url=_queue_url(filters) if after else None,
        next_url=_queue_url(filters, page.next_after) if page.next_after else None,
        filters=filters,
        reasons=list(REASONS),
        reason_counts=review.count_by_reason(ctx, status, village or None, min_age, max_age),
        user=ctx.actor.name,
        message=request.query_params.get("msg"),
    )


def _queue_url(filters: dict[str, Any], after: str | None = None) -> str:
    """The queue with the same filters (the language is in its cookie), from `after`."""
    query = [(k, str(v)) for k, v in filters.items() if v not in (None, "")]
    return "/console/cases?" + urlencode(query + ([("after", after)] if after else []))


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: str = CaseId, session: Session = deps.DbSession
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    try:
        case = review.detail(ctx, case_id)
    except DomainError as exc:
        return _render(
            request, "error.html", exc.status, error_text=exc.detail, user=ctx.actor.name
        )
    case["village_name"] = queue.village_names(ctx, [str(case["village_code"])])[
        str(case["village_code"])
    ]
    return _render(
        request,
        "case.html",
        case=case,
        user=ctx.actor.name,
        decisions=review.DECISIONS,
        terminate_reasons=review.TERMINATE_REASONS,
        documents=archives.list_for(ctx, str(case["person_id"])),
    )


@router.get("/documents/{doc_id}")
def document(request: Request, doc_id: str = DocId, session: Session = deps.DbSession) -> Response:
    """A person's archived document, viewed in the browser (an audited read)."""
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    try:
        doc = archives.get(ctx, doc_id)
        data = archives.read(ctx, archive_dir(request), doc)
    except DomainError as exc:
        return _render(
            request, "error.html", exc.status, error_text=exc.detail, user=ctx.actor.name
        )
    return content_response(doc, data)


@router.post("/cases/{case_id}/decision")
def decide(
    request: Request,
    case_id: str = CaseId,
    decision: str = Form(...),
    note: str = Form(default=""),
    terminate_reason: str = Form(default=""),
    effective_on: str = Form(default=""),
    csrf: str = Form(default=""),
    session: Session = deps.DbSession,
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    if not hmac.compare_digest(
        csrf.encode(), _csrf(request, request.cookies.get(COOKIE, "")).encode()
    ):
        return _render(request, "error.html", 403, error_text="CSRF", user=ctx.actor.name)
    try:
        reason, on = _termination_fields(decision, terminate_reason, effective_on)
        if bad_character(note, multi_line=True) is not None:  # the API's text rule, here too
            raise field_error(
                "note", "a control character is not allowed in the note", "control_character"
            )
        result = review.decide(ctx, signing_key(request), case_id, decision, note, reason, on)
    except DomainError as exc:
        session.rollback()
        case = review.detail(ctx, case_id) if exc.status != 404 else None
        if case is None:
            return _render(
                request, "error.html", exc.status, error_text=exc.detail, user=ctx.actor.name
            )
        text = (
            TEXT["four_eyes"][0 if _lang(request) == "zh" else 1]
            if isinstance(exc, review.FourEyes)
            else exc.detail
        )
        return _render(
            request,
            "case.html",
            exc.status,
            page_path=f"/console/cases/{case_id}",
            case=case,
            user=ctx.actor.name,
            decisions=review.DECISIONS,
            terminate_reasons=review.TERMINATE_REASONS,
            documents=archives.list_for(ctx, str(case["person_id"])),
            error_text=text,
            note=note,
            chosen=decision,
            chosen_reason=terminate_reason,
            chosen_on=effective_on,
        )
    msg = "decided_pending" if result.get("needs_second_reviewer") else "decided"
    return RedirectResponse(f"/console/cases?msg={msg}", status_code=303)


def _termination_fields(decision: str, reason: str, on: str) -> tuple[str | None, date | None]:
    """The form always shows the reason and date (no JavaScript to hide them): they count
    for a terminate decision only, and are ignored for any other."""
    if decision != "terminate":
        return None, None
    try:
        day = date.fromisoformat(on.strip()) if on.strip() else None
    except ValueError:
        raise field_error("effective_on", "a date is written YYYY-MM-DD, e.g. 2026-10-03") from None
    return reason or None, day


@router.get("/due", response_class=HTMLResponse)
def due(
    request: Request,
    village: str = Query(default="", max_length=24),
    session: Session = deps.DbSession,
) -> Response:
    try:
        ctx = _ctx(request, session)
    except NeedsLogin:
        return _to_login()
    lists = queue.overdue_list(ctx, village or None)
    audit.record(ctx, "read console due", village)  # names of the people due: audited
    return _render(request, "due.html", lists=lists, village=village, user=ctx.actor.name)
