"""The field app's HTTP client: the few backend routes it uses, typed with pydantic.

Importable without the server's dependencies (no sqlmodel, no fastapi): it runs on the
phone. Errors come back as two kinds the outbox can act on: `Unreachable` (no network,
a cut connection, a timeout, a 5xx or 429: try again later) and `ApiError` (the backend
answered with a problem+json: retrying the same request will not change the answer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

API = "/api/v1"
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


# --- schemas ---------------------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the backend may add fields at any time


class Problem(_Open):
    type: str = "about:blank"
    title: str = ""
    status: int = 0
    detail: str = ""
    errors: list[dict[str, Any]] = Field(default_factory=list)


class Token(_Open):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = 3600
    role: str


class Challenge(_Open):
    challenge_id: str
    nonce: str
    actions: list[str]
    person_id: str
    issued_at: str
    expires_at: str


class LastCertification(_Open):
    certified_on: str
    channel: str
    valid_until: str | None = None


class WorkPerson(_Open):
    person_id: str
    name: str
    id_number: str
    id_number_masked: str
    birth_date: str
    gender: str
    village_code: str
    village_name: str
    address: str
    phone: str | None = None
    homebound: bool = False
    status: str = "receiving"
    due_state: str = "overdue"
    last_certification: LastCertification | None = None
    face_template: str | None = None  # base64 of the engine's template bytes
    challenges: list[Challenge] = Field(default_factory=list)  # fetched ahead by the app


class Village(_Open):
    code: str
    name: str
    township: str = ""


class Worklist(_Open):
    generated_at: str
    today: str
    worker: str
    villages: list[Village] = Field(default_factory=list)
    persons: list[WorkPerson] = Field(default_factory=list)


class Receipt(_Open):
    receipt_id: str
    code: str


class CertificationResult(_Open):
    certification_id: str
    outcome: Literal["passed", "referred", "failed"]
    distance: float | None = None
    reasons: list[str] = Field(default_factory=list)
    valid_until: str | None = None
    receipt: Receipt | None = None
    liveness: dict[str, Any] | None = None


class CertificationIn(BaseModel):
    """What the outbox sends for a face visit (the images travel as files)."""

    person_id: str
    challenge_id: str
    nonce: str
    evidence: str
    client_id: str
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    id_number: str | None = None
    name: str | None = None
    listed_on: str | None = None  # the work list's day: the backend says if certified since
    # made at capture time by the phone's own key (client/capture.py) and kept in the outbox
    signature: str | None = None
    key_id: str | None = None  # which registered field phone's key signed


class VisitIn(BaseModel):
    client_id: str
    person_id: str
    outcome: Literal["not_at_home", "reported_dead", "refer_failed"]
    visited_at: str
    listed_on: str | None = None
    note: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_m: float | None = None
    date_of_death: str | None = None
    certification_id: str | None = None


class VisitResult(_Open):
    visit_id: str
    person_id: str
    outcome: str
    recorded_on: str
    review_case_id: str | None = None


# --- errors ----------------------------------------------------------------------------------


class ClientError(Exception):
    pass


class Unreachable(ClientError):
    """Nothing definite came back: the request may or may not have reached the backend."""


class ApiError(ClientError):
    def __init__(self, status: int, problem: Problem) -> None:
        super().__init__(f"{status}: {problem.detail or problem.title}")
        self.status = status
        self.problem = problem


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
        self.token = token
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FieldClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**headers, **(extra or {})}

    def _send(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self._http.request(method, API + path, **kw)
        except httpx.TransportError as exc:  # refused, reset, cut, timed out, DNS
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if r.status_code in RETRYABLE_STATUS:
            raise Unreachable(f"the backend answered {r.status_code}")
        if r.status_code >= 400:
            raise ApiError(r.status_code, _problem(r))
        try:
            return r.json()
        except json.JSONDecodeError as exc:  # a proxy's HTML page, a truncated body
            raise Unreachable("the answer was not JSON") from exc

    def healthy(self) -> bool:
        try:
            return self._http.get("/healthz", timeout=3.0).status_code == 200
        except httpx.TransportError:
            return False

    def sign_in(self, username: str, password: str) -> Token:
        token = Token.model_validate(
            self._send("POST", "/auth/token", data={"username": username, "password": password})
        )
        self.token = token.access_token
        return token

    def worklist(self, village: str | None = None) -> Worklist:
        params = {"village": village} if village else None
        return Worklist.model_validate(
            self._send("GET", "/field/worklist", params=params, headers=self._headers())
        )

    def challenge(self, person_id: str) -> Challenge:
        return Challenge.model_validate(
            self._send(
                "POST", "/challenges", json={"person_id": person_id}, headers=self._headers()
            )
        )

    def certify(
        self, sub: CertificationIn, images: Sequence[bytes], frames: Sequence[bytes] = ()
    ) -> CertificationResult:
        data = {k: str(v) for k, v in sub.model_dump(exclude_none=True).items()}
        data["channel"] = "field"
        files = [("images", (f"face{i}.jpg", b, "image/jpeg")) for i, b in enumerate(images)]
        files += [("frames", (f"frame{i}.jpg", b, "image/jpeg")) for i, b in enumerate(frames)]
        body = self._send(
            "POST",
            "/certifications",
            data=data,
            files=files,
            headers=self._headers({"Idempotency-Key": sub.client_id}),
        )
        return CertificationResult.model_validate(body)

    def visit(self, visit: VisitIn) -> VisitResult:
        body = self._send(
            "POST",
            "/field/visits",
            json=visit.model_dump(),
            headers=self._headers({"Idempotency-Key": visit.client_id}),
        )
        return VisitResult.model_validate(body)

    def attach(
        self,
        client_id: str,
        person_id: str,
        attestation: str,
        note: str,
        documents: Sequence[bytes],
    ) -> dict[str, Any]:
        """The worker's attestation, note and document photos of a visit (idempotent)."""
        files = [("documents", (f"doc{i}.jpg", b, "image/jpeg")) for i, b in enumerate(documents)]
        data = {"person_id": person_id, "attestation": attestation, "note": note}
        return dict(
            self._send(
                "POST",
                f"/field/visits/{client_id}/attachments",
                data=data,
                files=files or None,
                headers=self._headers(),
            )
        )


def _problem(r: httpx.Response) -> Problem:
    try:
        return Problem.model_validate({"status": r.status_code, **r.json()})
    except (json.JSONDecodeError, ValueError):
        return Problem(status=r.status_code, title=r.reason_phrase, detail=r.text[:300])
