"""Domain errors raised by services; the API turns them into problem+json."""

from __future__ import annotations


class DomainError(Exception):
    status = 422
    title = "Request refused"
    type = "about:blank"
    code = "request_refused"  # the stable machine code clients switch on; a subclass default

    def __init__(
        self, detail: str, *, errors: list[dict[str, str]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"
    type = "https://nongbao.example/problems/invalid-input"
    code = "invalid_input"


class RuleRefused(DomainError):
    status = 422
    title = "Refused by a business rule"
    type = "https://nongbao.example/problems/business-rule"
    code = "rule_refused"


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type = "https://nongbao.example/problems/not-found"
    code = "not_found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type = "https://nongbao.example/problems/conflict"
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type = "https://nongbao.example/problems/forbidden"
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    title = "Not authenticated"
    type = "https://nongbao.example/problems/unauthorized"
    code = "unauthorized"


class ServiceUnavailable(DomainError):
    """An outside service we depend on (the SMS gateway) cannot do it now: nothing changed."""

    status = 503
    title = "Service unavailable"
    type = "https://nongbao.example/problems/service-unavailable"
    code = "service_unavailable"


class TooManyRequests(DomainError):
    """Refused before any work: wait `retry_after` seconds (sent as Retry-After)."""

    status = 429
    title = "Too many requests"
    type = "https://nongbao.example/problems/too-many-requests"
    code = "too_many_attempts"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)


def field_error(field: str, message: str, code: str | None = None) -> InvalidInput:
    if code is None:
        return InvalidInput(message, errors=[{"field": field, "message": message}])
    return InvalidInput(
        message, errors=[{"field": field, "message": message, "code": code}], code=code
    )
