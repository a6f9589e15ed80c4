"""Every error as application/problem+json (RFC 9457), readable by county staff."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import DomainError, TooManyRequests

PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
# the machine code of a problem that names none of its own
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
# codes of our own validators (backend/validation.py, backend/idnumber.py): a body refused for one of
# them carries it as the problem's code too, so a client can switch on it
OWN_VALIDATION_CODES = frozenset(
    {"control_character", "line_break", "date_out_of_range", "id_number_not_ascii"}
)
log = logging.getLogger("nongbao")


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    code: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code or CODES.get(status, "error"),
    }
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _message(err: dict[str, Any]) -> str:
    kind, msg = err.get("type", ""), err.get("msg", "invalid")
    if kind in ("int_type", "int_parsing") and "fen" in _field_of(tuple(err.get("loc", ()))):
        return "money is a whole number of fen (1 yuan = 100 fen), e.g. 10000 for 100 yuan"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "this field is required"
    return msg


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(
            exc.status,
            exc.detail,
            title=exc.title,
            type_=exc.type,
            errors=exc.errors,
            headers=headers,
            code=exc.code,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": _field_of(tuple(e.get("loc", ()))),
                "message": _message(e),
                "code": str(e.get("type", "invalid")),
            }
            for e in exc.errors()
        ]
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        own = [e["code"] for e in errors if e["code"] in OWN_VALIDATION_CODES]
        return problem(
            422,
            f"invalid input: {fields}",
            errors=errors,
            type_="https://nongbao.example/problems/invalid-input",
            code=own[0] if own else "invalid_input",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    # The last resort for database errors: the user gets a problem without SQL or values; the
    # server log keeps the driver's message (no bound parameters) for the operator.
    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # the database refused a value (a NUL character, a number out of range): bad input
        _log_db_error(exc)
        return problem(
            422,
            "a value in the request cannot be stored (out of range or an invalid character); nothing was written",
            code="value_not_storable",
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # a concurrent request changed the same thing first; nothing of this one was written
        _log_db_error(exc)
        return problem(
            409,
            "a concurrent change conflicts with this request; nothing was written; retry",
            code="concurrent_change",
        )

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> JSONResponse:
        # the database is unreachable, locked or timed out: nothing of this request was written
        _log_db_error(exc)
        return problem(
            503,
            "the database is busy or unavailable; nothing was written; retry in a moment",
            code="database_unavailable",
        )

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        _log_db_error(exc)
        return problem(500, "a database error occurred; it has been logged", code="database_error")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "an unexpected error occurred; it has been logged")


def _log_db_error(exc: DBAPIError) -> None:
    """The driver's message for the operator, never the bound parameters (personal data)."""
    log.warning("database refused a request: %s: %s", type(exc.orig).__name__, exc.orig)
