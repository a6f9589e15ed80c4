"""Every error as application/problem+json (RFC 9457), readable by county staff."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import DomainError

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
}


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
            {"field": _field_of(tuple(e.get("loc", ()))), "message": _message(e)}
            for e in exc.errors()
        ]
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        return problem(
            422,
            f"invalid input: {fields}",
            errors=errors,
            type_="https://nongbao.example/problems/invalid-input",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # the database refused a value (a NUL character, a number out of range): bad input
        return problem(
            422,
            "a value in the request cannot be stored (out of range or an invalid character); nothing was written",
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # a concurrent request changed the same thing first; nothing of this one was written
        return problem(
            409, "a concurrent change conflicts with this request; nothing was written; retry"
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger("nongbao").exception("unexpected error")
        return problem(500, "an unexpected error occurred; it has been logged")
