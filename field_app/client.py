"""The field app's view of the backend: the typed client (client/) with the outbox's errors.

Importable without the server's dependencies (no sqlmodel, no fastapi): it runs on the
phone. The models are client.models'; errors come back as two kinds the outbox can act on:
`Unreachable` (no network, a cut connection, a timeout, a 5xx or 429: try again later) and
`ApiError` (the backend answered with a problem+json: retrying the same request will not
change the answer; its `problem.code` says why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from client import errors
from client.errors import RETRYABLE_STATUS
from client.http import NongbaoClient
from client.models import CertificationIn as _CertificationIn
from client.models import (
    CertificationResult,
    Challenge,
    LastCertification,
    Problem,
    Receipt,
    Token,
    Village,
    VisitIn,
    VisitResult,
    Worklist,
    WorkPerson,
)

__all__ = [
    "RETRYABLE_STATUS",
    "ApiError",
    "CertificationIn",
    "CertificationResult",
    "Challenge",
    "ClientError",
    "FieldClient",
    "LastCertification",
    "Problem",
    "Receipt",
    "Token",
    "Unreachable",
    "Village",
    "VisitIn",
    "VisitResult",
    "WorkPerson",
    "Worklist",
]
T = TypeVar("T")


class CertificationIn(_CertificationIn):
    """A face visit as the outbox keeps it: its client id is the idempotency key."""

    client_id: str


# --- errors ----------------------------------------------------------------------------------


class ClientError(errors.NongbaoError):
    pass


class Unreachable(ClientError):
    """Nothing definite came back: the request may or may not have reached the backend."""


class ApiError(ClientError):
    def __init__(self, status: int, problem: Problem) -> None:
        super().__init__(f"{status}: {problem.detail or problem.title}")
        self.status = status
        self.problem = problem


def _field_error(exc: errors.ApiError) -> ClientError:
    if exc.retryable:
        return Unreachable(f"the backend answered {exc.status}")
    problem = Problem(
        type=exc.type,
        title=exc.title,
        status=exc.status,
        detail=exc.detail,
        code=exc.code,
        errors=exc.errors,
    )
    return ApiError(exc.status, problem)


# --- the client ------------------------------------------------------------------------------


class FieldClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = NongbaoClient(
            self.base_url, token=token, timeout_s=timeout, transport=transport
        )

    @property
    def token(self) -> str | None:
        return self._api.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._api.token = value

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> FieldClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _do(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except errors.TransportError as exc:  # refused, reset, cut, timed out, not JSON
            raise Unreachable(str(exc)) from exc
        except errors.ApiError as exc:
            raise _field_error(exc) from exc

    def healthy(self) -> bool:
        try:
            self._api.health()
        except errors.TransportError:
            return False
        return True

    def sign_in(self, username: str, password: str) -> Token:
        return self._do(lambda: self._api.sign_in(username, password))

    def worklist(self, village: str | None = None) -> Worklist:
        return self._do(lambda: self._api.worklist(village))

    def challenge(self, person_id: str) -> Challenge:
        return self._do(lambda: self._api.challenge(person_id))

    def certify(
        self, sub: CertificationIn, images: Sequence[bytes], frames: Sequence[bytes] = ()
    ) -> CertificationResult:
        return self._do(
            lambda: self._api.certify(
                sub, images, frames, channel="field", idempotency_key=sub.client_id
            )
        )

    def visit(self, visit: VisitIn) -> VisitResult:
        return self._do(lambda: self._api.visit(visit))

    def attach(
        self,
        client_id: str,
        person_id: str,
        attestation: str,
        note: str,
        documents: Sequence[bytes],
    ) -> dict[str, Any]:
        """The worker's attestation, note and document photos of a visit (idempotent)."""
        answer = self._do(
            lambda: self._api.attach(client_id, person_id, attestation, note, documents)
        )
        return answer.model_dump(mode="json")
