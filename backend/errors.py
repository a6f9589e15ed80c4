"""Domain errors raised by services; the API turns them into problem+json."""

from __future__ import annotations


class DomainError(Exception):
    status = 422
    title = "Request refused"
    type = "about:blank"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.code = code  # a stable snake_case machine code, e.g. same_person_cannot_confirm


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"
    type = "https://nongbao.example/problems/invalid-input"


class RuleRefused(DomainError):
    status = 422
    title = "Refused by a business rule"
    type = "https://nongbao.example/problems/business-rule"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type = "https://nongbao.example/problems/not-found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type = "https://nongbao.example/problems/conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type = "https://nongbao.example/problems/forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Not authenticated"
    type = "https://nongbao.example/problems/unauthorized"


def field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": field, "message": message}])
