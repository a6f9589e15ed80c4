"""One exception tree for every call of the typed client, in the manner of httpx's.

    NongbaoError
    ├── TransportError        nothing definite came back: unreachable, a timeout, a cut
    │   │                     connection, or an answer that is not the JSON the route promises
    │   └── InvalidAnswer     the backend answered 2xx, but not with what its model says
    └── ApiError              the backend answered with a problem+json (RFC 9457)
        ├── ClientProblem     4xx: this request is refused; resending it changes nothing,
        │                     except `retryable` ones (408, 425, 429)
        └── ServerProblem     5xx: the backend failed; try again later

An ApiError carries the problem's stable machine `code` (docs/problem-codes.md): clients
switch on it, never on the English `detail`, which is written for staff.
"""

from __future__ import annotations

from typing import Any

# the statuses after which the same request may well succeed later
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class NongbaoError(Exception):
    """Base of every error the client raises."""


class TransportError(NongbaoError):
    """No usable answer: the request may or may not have reached the backend."""


class InvalidAnswer(TransportError):
    """A 2xx answer that is not JSON, or not the shape the route's model declares."""


class ApiError(NongbaoError):
    """The backend answered with a problem: `status`, `code` (stable), `detail` (for staff)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        *,
        title: str = "",
        type_: str = "about:blank",
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}" if detail else f"{status} {code}")
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.type = type_
        self.errors = errors or []
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (rate limited, server busy)."""
        return self.status in RETRYABLE_STATUS


class ClientProblem(ApiError):
    """A 4xx problem: the request is refused as it stands."""


class ServerProblem(ApiError):
    """A 5xx problem: the backend could not do it now."""


def api_error(
    status: int,
    code: str,
    detail: str = "",
    **kw: Any,
) -> ApiError:
    """The ApiError subclass for a status."""
    kind = ServerProblem if status >= 500 else ClientProblem
    return kind(status, code, detail, **kw)
