"""NongbaoClient: the backend's HTTP API over httpx, answers parsed into client.models.

One client per device: the kiosk (a device token) and the field app (a signed-in worker's
token) both call through it, so timeouts, headers, problem parsing and the error tree
(client/errors.py) are the same everywhere. The routes are those of /work/shared/API.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from client.errors import ApiError, InvalidAnswer, TransportError, api_error
from client.models import (
    Account,
    Attachments,
    CertificationIn,
    CertificationResult,
    Challenge,
    Contribution,
    KioskSession,
    Payments,
    Problem,
    Token,
    VisitIn,
    VisitResult,
    Worklist,
)

API = "/api/v1"
DEFAULT_SESSION_HEADER = "X-Resident-Session"
Model = TypeVar("Model", bound=BaseModel)
_CONTRIBUTIONS = TypeAdapter(list[Contribution])
Files = list[tuple[str, tuple[str, bytes, str]]]


def jpeg_parts(name: str, blobs: Sequence[bytes], stem: str) -> Files:
    """Multipart file parts `name` = face0.jpg, face1.jpg, ... (JPEG)."""
    return [(name, (f"{stem}{i}.jpg", b, "image/jpeg")) for i, b in enumerate(blobs)]


def problem_of(response: httpx.Response) -> Problem:
    """The problem+json of a refusal; a body that is none still gives status and reason."""
    try:
        body = response.json()
        if isinstance(body, dict):
            return Problem.model_validate({"status": response.status_code, **body})
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError):
        pass
    return Problem(
        status=response.status_code, title=response.reason_phrase, detail=response.text[:300]
    )


def error_of(response: httpx.Response) -> ApiError:
    problem = problem_of(response)
    retry_after = response.headers.get("Retry-After", "")
    return api_error(
        response.status_code,
        problem.code,
        problem.detail or problem.title,
        title=problem.title,
        type_=problem.type,
        errors=problem.errors,
        retry_after=int(retry_after) if retry_after.isdigit() else None,
    )


class NongbaoClient:
    """The backend's API. `token` goes as `Authorization: Bearer`; `transport` lets tests
    run it against the real app in process (or a mock)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        connect = timeout_s if connect_timeout_s is None else connect_timeout_s
        self.token = token
        self.session_header = DEFAULT_SESSION_HEADER  # a session answer may name another
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=connect),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NongbaoClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the one way out -----------------------------------------------------------------

    def _headers(self, session: str | None, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if session:
            headers[self.session_header] = session
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def send(
        self,
        method: str,
        path: str,
        *,
        session: str | None = None,
        idempotency_key: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """One call of /api/v1`path`; a 2xx answer, or TransportError / ApiError."""
        headers = self._headers(session, idempotency_key)
        try:
            response = self._http.request(method, API + path, headers=headers, **kw)
        except httpx.HTTPError as exc:  # refused, reset, cut, timed out, DNS, protocol
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def call(self, model: type[Model], method: str, path: str, **kw: Any) -> Model:
        """`send`, its JSON answer parsed into `model` (InvalidAnswer when it does not fit)."""
        return _parse(self.send(method, path, **kw), model.model_validate)

    # --- operations ----------------------------------------------------------------------

    def health(self) -> None:
        """GET /healthz (outside /api/v1); TransportError unless it answers 2xx."""
        try:
            # with the token, as every call: a proxy in front may want it
            response = self._http.get("/healthz", headers=self._headers(None, None), timeout=3.0)
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise TransportError(f"/healthz answered {response.status_code}")

    def sign_in(self, username: str, password: str) -> Token:
        """A staff member's token; kept as this client's token from now on."""
        form = {"username": username, "password": password}
        token = self.call(Token, "POST", "/auth/token", data=form)
        self.token = token.access_token
        return token

    # --- the kiosk's resident session ------------------------------------------------------

    def open_kiosk_session(self, card: Mapping[str, str], photo: bytes | None) -> KioskSession:
        """POST /kiosk/sessions: the card's fields and the face photo (JPEG)."""
        files = jpeg_parts("image", [photo], "face") if photo is not None else None
        opened = self.call(KioskSession, "POST", "/kiosk/sessions", data=dict(card), files=files)
        self.session_header = opened.header or DEFAULT_SESSION_HEADER
        return opened

    def close_kiosk_session(self, session: str) -> None:
        self.send("DELETE", f"/kiosk/sessions/{session}", session=session)

    def account(self, person_id: str, *, session: str | None = None) -> Account:
        return self.call(Account, "GET", f"/persons/{person_id}/account", session=session)

    def contributions(self, person_id: str, *, session: str | None = None) -> list[Contribution]:
        path = f"/persons/{person_id}/contributions"
        return _parse(self.send("GET", path, session=session), _CONTRIBUTIONS.validate_python)

    def payments(self, person_id: str, *, session: str | None = None) -> Payments:
        return self.call(Payments, "GET", f"/persons/{person_id}/payments", session=session)

    # --- certification ---------------------------------------------------------------------

    def challenge(self, person_id: str, *, session: str | None = None) -> Challenge:
        body = {"person_id": person_id}
        return self.call(Challenge, "POST", "/challenges", json=body, session=session)

    def certify(
        self,
        submission: CertificationIn,
        images: Sequence[bytes],
        frames: Sequence[bytes] = (),
        *,
        channel: str,
        idempotency_key: str,
        session: str | None = None,
    ) -> CertificationResult:
        """POST /certifications: the form, the best images and the liveness frames."""
        form = {k: str(v) for k, v in submission.model_dump(exclude_none=True).items()}
        form["channel"] = channel
        files = jpeg_parts("images", images, "face") + jpeg_parts("frames", frames, "frame")
        return self.call(
            CertificationResult,
            "POST",
            "/certifications",
            data=form,
            files=files,
            session=session,
            idempotency_key=idempotency_key,
        )

    # --- the field app -----------------------------------------------------------------------

    def worklist(self, village: str | None = None) -> Worklist:
        params = {"village": village} if village else None
        return self.call(Worklist, "GET", "/field/worklist", params=params)

    def visit(self, visit: VisitIn) -> VisitResult:
        body = visit.model_dump()
        return self.call(
            VisitResult, "POST", "/field/visits", json=body, idempotency_key=visit.client_id
        )

    def attach(
        self,
        client_id: str,
        person_id: str,
        attestation: str,
        note: str,
        documents: Sequence[bytes],
    ) -> Attachments:
        """The worker's attestation, note and document photos of a visit (idempotent)."""
        form = {"person_id": person_id, "attestation": attestation, "note": note}
        files = jpeg_parts("documents", documents, "doc") or None
        path = f"/field/visits/{client_id}/attachments"
        return self.call(Attachments, "POST", path, data=form, files=files)


def _parse(response: httpx.Response, validate: Any) -> Any:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a proxy's page, a cut body
        raise InvalidAnswer("the backend's answer is not JSON") from exc
    try:
        return validate(data)
    except ValidationError as exc:
        raise InvalidAnswer(
            f"the backend's answer does not fit: {exc.error_count()} errors"
        ) from exc
