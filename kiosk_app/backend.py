"""The kiosk's view of the backend: a Protocol, the HTTP client, and an in-process simulation.

Every method either returns plain data (kiosk_app.models) or raises one of two errors:
`Unreachable` (network down, timeout, server error: worth trying again later) or
`Refused(reason)` (the backend answered and said no; `reason` is a short code such as
`not_enrolled` or `card_locked`, `detail` the backend's own words for staff).

Routes (base /api/v1; /work/shared/API.md, and backend/api/routes/kiosk.py as it stands):

    POST   /kiosk/sessions                   multipart card fields + `image` (the face)
                                             -> {session_token, person_id, expires_in, header}
    DELETE /kiosk/sessions/{session}         end the session (its token is refused from then on)
    POST   /challenges                       {person_id} -> liveness challenge
    POST   /certifications                   multipart: images, frames, evidence (JSON)
    GET    /persons/{person_id}/account      balance and buckets
    GET    /persons/{person_id}/contributions  (a list; the kiosk needs it in the session)
    GET    /persons/{person_id}/payments     (proposed: not in the backend yet)

Person routes carry the resident session token in the header the session answer names
(`X-Resident-Session`); every call carries the device token in `Authorization: Bearer`.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx

from client import clock
from client.capture import DeviceKey
from kiosk_app.models import (
    AccountSummary,
    CardInfo,
    CardKind,
    CertificationResult,
    Challenge,
    Contribution,
    LivenessEvidence,
    Payment,
    ReceiptRef,
    Resident,
)

API = "/api/v1"


class BackendError(Exception):
    """Base of the two ways a backend call can fail."""


class Unreachable(BackendError):
    """No usable answer: network down, timeout, or a server error. Try again later."""


class Refused(BackendError):
    """The backend answered and refused; `reason` is a short machine code."""

    def __init__(self, reason: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.status = status


@runtime_checkable
class KioskBackend(Protocol):
    def open_session(self, card: CardInfo, photo: bytes | None = None) -> Resident:
        """Open a resident session for the card's holder. `photo` (JPEG) lets the backend
        check the face against the card's holder. Refused `not_enrolled` (no such person)
        or `not_recognised` (the face is not the card holder's)."""
        ...

    def close_session(self, session_id: str) -> None:
        """Forget the resident session (best effort; never raises Refused for unknown ids)."""
        ...

    def get_challenge(self, resident: Resident) -> Challenge: ...

    def submit_certification(
        self,
        resident: Resident,
        images: Sequence[bytes],
        frames: Sequence[bytes],
        evidence: LivenessEvidence,
        idempotency_key: str,
    ) -> CertificationResult:
        """`images`: JPEG photo(s) that passed the quality gate; `frames`: JPEG frames taken
        during the liveness actions. The same idempotency key never certifies twice."""
        ...

    def get_account(self, resident: Resident) -> AccountSummary: ...

    def get_contributions(self, resident: Resident) -> list[Contribution]: ...

    def get_payments(self, resident: Resident) -> list[Payment]: ...


# ------------------------------------------------------------------ parsing helpers


def _date(value: Any) -> date | None:
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])


def _resident(data: dict[str, Any], card: CardInfo) -> Resident:
    """The session answer; what it leaves out comes from the card (masked) or is unknown."""
    cert = data.get("certification") or {}
    return Resident(
        session_id=str(data.get("session_token") or data["session_id"]),
        person_id=str(data["person_id"]),
        name_masked=str(data.get("name_masked") or mask_name(card.name)),
        id_number_masked=str(data.get("id_number_masked") or mask_id(card.id_number)),
        status=str(data.get("status") or "unknown"),
        certification_valid_until=_date(cert.get("valid_until")),
        certification_due=bool(cert.get("due", True)),
    )


def _challenge(data: dict[str, Any]) -> Challenge:
    return Challenge(
        challenge_id=str(data["challenge_id"]),
        nonce=str(data["nonce"]),
        actions=tuple(str(a) for a in data["actions"]),
        expires_at=data.get("expires_at"),
        seconds_per_action=_seconds(data.get("seconds_per_action")),
    )


def _seconds(value: object) -> float | None:
    """The county's seconds per action, when the backend says (older backends do not)."""
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _certification(data: dict[str, Any]) -> CertificationResult:
    receipt = data.get("receipt")
    reasons = data.get("reasons") or ()
    return CertificationResult(
        certification_id=str(data["certification_id"]),
        outcome=str(data["outcome"]),
        distance=data.get("distance"),
        reasons=tuple(r["code"] if isinstance(r, dict) else str(r) for r in reasons),
        valid_until=_date(data.get("valid_until")),
        receipt=ReceiptRef(str(receipt["receipt_id"]), str(receipt["code"])) if receipt else None,
    )


def _account(data: dict[str, Any]) -> AccountSummary:
    b = data.get("buckets") or {}
    return AccountSummary(
        balance_fen=int(data["balance_fen"]),
        personal_fen=int(b.get("personal_fen", 0)),
        collective_fen=int(b.get("collective_fen", 0)),
        other_fen=int(b.get("other_fen", 0)),
        government_fen=int(b.get("government_fen", 0)),
    )


def _contribution(d: dict[str, Any]) -> Contribution:
    return Contribution(
        year=int(d["year"]),
        kind=str(d.get("kind", "normal")),
        personal_fen=int(d.get("personal_fen", 0)),
        government_fen=int(d.get("government_fen", 0)),
        collective_fen=int(d.get("collective_fen", 0)),
        other_fen=int(d.get("other_fen", 0)),
        paid_on=_date(d.get("paid_on")),
    )


def _payment(d: dict[str, Any]) -> Payment:
    return Payment(
        period=str(d["period"]),
        total_fen=int(d["total_fen"]),
        basic_fen=int(d.get("basic_fen", 0)),
        account_fen=int(d.get("account_fen", 0)),
        arrears_fen=int(d.get("arrears_fen", 0)),
        status=str(d.get("status", "paid")),
    )


def refusal_reason(status: int, problem: dict[str, Any]) -> str:
    """A short code from an RFC 9457 problem: its `reason`/`code`, else the `type`'s last part."""
    for key in ("reason", "code"):
        if isinstance(problem.get(key), str) and problem[key]:
            return problem[key]
    kind = problem.get("type")
    if isinstance(kind, str) and kind not in ("", "about:blank"):
        return kind.rstrip("/").rsplit("/", 1)[-1].replace("-", "_")
    return {
        401: "device_not_authorised",
        403: "device_not_authorised",
        404: "not_found",
        409: "conflict",
        413: "too_large",
        422: "invalid",
    }.get(status, "other")


# ------------------------------------------------------------------ HTTP


class HttpKioskBackend:
    """KioskBackend over the backend's HTTP API, with a device token and timeouts."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        capture_key: DeviceKey | None = None,
    ) -> None:
        # the kiosk's own Ed25519 key (client/capture.py): every certification is signed
        self._capture_key = capture_key
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
        )
        self._session_header = "X-Resident-Session"  # the session answer may name another

    def close(self) -> None:
        self._client.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        session: str | None = None,
        idempotency_key: str | None = None,
        allow_list: bool = False,
        **kw: Any,
    ) -> Any:
        headers: dict[str, str] = {}
        if session:
            headers[self._session_header] = session
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._client.request(method, API + path, headers=headers, **kw)
        except httpx.HTTPError as exc:  # connect errors, timeouts, protocol errors
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise Unreachable(f"server error {response.status_code}")
        if response.status_code >= 400:
            try:
                problem = response.json()
                if not isinstance(problem, dict):
                    problem = {}
            except ValueError:
                problem = {}
            detail = str(problem.get("detail") or problem.get("title") or "")
            reason = refusal_reason(response.status_code, problem)
            if "expired" in detail and "session" in detail:
                reason = "session_expired"  # the resident session's time is up
            elif "locked" in detail:
                reason = "card_locked"
            raise Refused(reason, detail, response.status_code)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise Unreachable("the backend's answer is not JSON") from exc
        if not isinstance(data, dict) and not (allow_list and isinstance(data, list)):
            raise Unreachable("the backend's answer is not a JSON object")
        return data

    def health(self) -> None:
        """GET /healthz (outside /api/v1); Unreachable unless it answers 2xx."""
        try:
            response = self._client.get("/healthz")
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise Unreachable(f"/healthz answered {response.status_code}")

    def open_session(self, card: CardInfo, photo: bytes | None = None) -> Resident:
        form = {"card_kind": card.kind.value, "id_number": card.id_number, "name": card.name}
        if card.card_number:
            form["card_number"] = card.card_number
        files = [("image", ("face.jpg", photo, "image/jpeg"))] if photo is not None else None
        try:
            data = self._call("POST", "/kiosk/sessions", data=form, files=files)
        except Refused as exc:
            if exc.status == 403 and exc.reason in (
                "forbidden",
                "device_not_authorised",
                "face_mismatch",
            ):
                # the backend's answer when the card or the face is not the holder's
                raise Refused("not_recognised", exc.detail, exc.status) from exc
            if exc.status == 404 and exc.reason in ("not_found", "not-found"):
                raise Refused("not_enrolled", exc.detail, exc.status) from exc
            raise
        header = data.get("header")
        if isinstance(header, str) and header:
            self._session_header = header
        return _resident(data, card)

    def close_session(self, session_id: str) -> None:
        with contextlib.suppress(Refused):  # already gone is fine
            self._call("DELETE", f"/kiosk/sessions/{session_id}", session=session_id)

    def get_challenge(self, resident: Resident) -> Challenge:
        data = self._call(
            "POST",
            "/challenges",
            session=resident.session_id,
            json={"person_id": resident.person_id},
        )
        return _challenge(data)

    def submit_certification(
        self,
        resident: Resident,
        images: Sequence[bytes],
        frames: Sequence[bytes],
        evidence: LivenessEvidence,
        idempotency_key: str,
    ) -> CertificationResult:
        liveness = {
            "challenge_id": evidence.challenge_id,
            "nonce": evidence.nonce,
            "actions": list(evidence.actions_done),
            "timings_s": list(evidence.timings_s),
            "frames": list(evidence.measurements),
        }
        form = {
            "person_id": resident.person_id,
            "channel": "kiosk",
            "challenge_id": evidence.challenge_id,
            "nonce": evidence.nonce,
            "evidence": json.dumps(liveness, separators=(",", ":")),
        }
        if self._capture_key is not None:
            # over exactly the bytes sent: the first image, every frame, the evidence text
            form["signature"] = self._capture_key.sign(
                evidence.challenge_id, evidence.nonce, images, frames, form["evidence"]
            )
        files = [("images", (f"face{i}.jpg", b, "image/jpeg")) for i, b in enumerate(images)]
        files += [("frames", (f"frame{i}.jpg", b, "image/jpeg")) for i, b in enumerate(frames)]
        data = self._call(
            "POST",
            "/certifications",
            session=resident.session_id,
            idempotency_key=idempotency_key,
            data=form,
            files=files,
        )
        return _certification(data)

    def get_account(self, resident: Resident) -> AccountSummary:
        path = f"/persons/{resident.person_id}/account"
        return _account(self._call("GET", path, session=resident.session_id))

    def get_contributions(self, resident: Resident) -> list[Contribution]:
        path = f"/persons/{resident.person_id}/contributions"
        data = self._call("GET", path, session=resident.session_id, allow_list=True)
        items = data if isinstance(data, list) else data.get("contributions", [])
        return [_contribution(d) for d in items if not d.get("reversed")]

    def get_payments(self, resident: Resident) -> list[Payment]:
        path = f"/persons/{resident.person_id}/payments"
        data = self._call("GET", path, session=resident.session_id)
        return [_payment(d) for d in data.get("payments", [])]


# ------------------------------------------------------------------ simulation


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character of the first 17 digits."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def mask_id(id_number: str) -> str:
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_name(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def valid_until_after(on: date) -> date:
    """Certified on D -> valid through the last day of D's month one year later (DOMAIN.md)."""
    year = on.year + 1
    return date(year, on.month, calendar.monthrange(year, on.month)[1])


@dataclass
class SimPerson:
    person_id: str
    id_number: str
    name: str
    status: str  # enrolled | receiving | suspended
    contributions: list[Contribution] = field(default_factory=list)
    monthly_basic_fen: int = 0
    monthly_account_fen: int = 0
    first_month: str | None = None  # YYYY-MM, pensioners
    valid_until: date | None = None
    face: str = "pass"  # what the simulated face engine decides: pass | refer | fail


def _demo_people(today: date) -> list[SimPerson]:
    def idn(region: str, born: str, seq: str) -> str:
        first = region + born + seq
        return first + id_check_char(first)

    pay_years = range(2015, today.year)
    return [
        # already 60 at the scheme start: basic pension only, never contributed; due
        SimPerson("P0001", "11010519491231002X", "王秀英", "receiving", [], 14300, 0, "2010-07"),
        # receiving since 2022, with contributions, certified until a future date
        SimPerson(
            "P0002",
            idn("510722", "19620315", "031"),
            "李建国",
            "receiving",
            [
                Contribution(y, "normal", 50000, 6000, 0, 0, date(y, 4, 10))
                for y in range(2012, 2022)
            ],
            14300 + 450,
            4029,
            "2022-04",
            valid_until_after(today - timedelta(days=40)),
        ),
        # still paying in, not a pensioner: no certification
        SimPerson(
            "P0003",
            idn("510722", "19800808", "052"),
            "张明",
            "enrolled",
            [Contribution(y, "normal", 30000, 4000, 2000, 0, date(y, 5, 20)) for y in pay_years],
        ),
        # the face engine refers this one to review
        SimPerson("P0004", idn("510722", "19550101", "024"), "赵桂兰", "receiving", [], 14300, 0,
                  "2015-02", face="refer"),
        # the face engine never recognises this one
        SimPerson("P0005", idn("510722", "19580606", "013"), "孙大山", "receiving", [], 14300, 0,
                  "2018-07", face="fail"),
    ]  # fmt: skip


def demo_card(index: int = 0, kind: CardKind = CardKind.SOCIAL_SECURITY) -> CardInfo:
    """A card of the demo people (0: due pensioner, 1: certified, 2: contributor, 3: referred,
    4: failing face), for the simulator's card slot."""
    person = _demo_people(date(2026, 1, 1))[index]
    return CardInfo(kind, person.id_number, person.name, card_number=f"SSC{index:06d}")


class SimulatedKioskBackend:
    """An in-process backend for `--simulate` demos and tests. It keeps state: sessions,
    single-use challenges, certifications (valid-until moves), failures per day (the card
    locks after `max_failures_per_day`), receipts, idempotency keys.

    `online = False` makes every call raise Unreachable; `delay` (injected `sleep`) imitates
    a slow network.
    """

    ACTIONS: tuple[tuple[str, ...], ...] = (  # the actions biometrics.liveness knows
        ("blink", "turn_left"),
        ("open_mouth", "turn_right"),
        ("turn_right", "blink", "open_mouth"),
    )

    def __init__(
        self,
        today: Callable[[], date] = clock.today,
        max_failures_per_day: int = 3,
        delay_s: float = 0.0,
        sleep: Callable[[float], None] | None = None,
        require_photo: bool = True,
    ) -> None:
        self._today = today
        self.max_failures_per_day = max_failures_per_day
        self.delay_s = delay_s
        self._sleep = sleep
        self.online = True
        self.require_photo = require_photo
        self._lock = threading.Lock()
        self.people: dict[str, SimPerson] = {p.id_number: p for p in _demo_people(today())}
        self.sessions: dict[str, str] = {}  # session_id -> id_number
        self.challenges: dict[str, tuple[str, Challenge, bool]] = {}  # id -> (person, ch, used)
        self.failures: dict[tuple[str, date], int] = {}
        self.certifications: list[tuple[str, CertificationResult]] = []
        self.idempotent: dict[str, CertificationResult] = {}
        self._counter = 0
        self.submissions: list[tuple[int, int]] = []  # (images, frames) per submission
        self.evidence: list[LivenessEvidence] = []

    def _enter(self) -> None:
        if self.delay_s and self._sleep is not None:
            self._sleep(self.delay_s)
        if not self.online:
            raise Unreachable("simulated network outage")

    def _next(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:05d}"

    def _person(self, resident: Resident) -> SimPerson:
        id_number = self.sessions.get(resident.session_id)
        if id_number is None:
            raise Refused("session_expired", "会话已结束", 401)
        return self.people[id_number]

    def _resident(self, session_id: str, p: SimPerson) -> Resident:
        today = self._today()
        pensioner = p.status in ("receiving", "suspended")
        due = pensioner and (p.valid_until is None or p.valid_until < today + timedelta(days=30))
        return Resident(
            session_id=session_id,
            person_id=p.person_id,
            name_masked=mask_name(p.name),
            id_number_masked=mask_id(p.id_number),
            status=p.status,
            certification_valid_until=p.valid_until,
            certification_due=due,
        )

    def open_session(self, card: CardInfo, photo: bytes | None = None) -> Resident:
        self._enter()
        with self._lock:
            p = self.people.get(card.id_number.upper())
            if p is None:
                raise Refused("not_enrolled", "未找到参保人", 404)
            if self.require_photo and not photo:
                raise Refused("photo_required", "需要照片", 422)
            if photo is not None and p.face == "fail":
                raise Refused("not_recognised", "人脸与持卡人不符", 403)
            session_id = self._next("S")
            self.sessions[session_id] = p.id_number
            return self._resident(session_id, p)

    def health(self) -> None:
        self._enter()

    def close_session(self, session_id: str) -> None:
        self._enter()
        with self._lock:
            self.sessions.pop(session_id, None)

    def get_challenge(self, resident: Resident) -> Challenge:
        self._enter()
        with self._lock:
            p = self._person(resident)
            if p.status not in ("receiving", "suspended"):
                raise Refused("not_pensioner", "未领取待遇，无需认证", 422)
            if self.failures.get((p.id_number, self._today()), 0) >= self.max_failures_per_day:
                raise Refused("card_locked", "今日认证失败次数已达上限", 422)
            cid = self._next("C")
            actions = self.ACTIONS[self._counter % len(self.ACTIONS)]
            challenge = Challenge(cid, f"n{cid}", actions, None)
            self.challenges[cid] = (p.id_number, challenge, False)
            return challenge

    def submit_certification(
        self,
        resident: Resident,
        images: Sequence[bytes],
        frames: Sequence[bytes],
        evidence: LivenessEvidence,
        idempotency_key: str,
    ) -> CertificationResult:
        self._enter()
        with self._lock:
            if idempotency_key in self.idempotent:
                return self.idempotent[idempotency_key]
            p = self._person(resident)
            entry = self.challenges.get(evidence.challenge_id)
            if entry is None or entry[0] != p.id_number or entry[1].nonce != evidence.nonce:
                raise Refused("challenge_invalid", "验证码无效", 422)
            if entry[2]:
                raise Refused("challenge_used", "验证码已使用", 409)
            self.challenges[evidence.challenge_id] = (entry[0], entry[1], True)
            if not images:
                raise Refused("no_usable_photo", "没有照片", 422)
            self.submissions.append((len(images), len(frames)))
            self.evidence.append(evidence)
            today = self._today()
            liveness_ok = tuple(evidence.actions_done) == entry[1].actions and bool(
                evidence.measurements
            )
            outcome = {"pass": "passed", "refer": "referred", "fail": "failed"}[p.face]
            if not liveness_ok:
                outcome = "failed"
            cid = self._next("K")
            if outcome == "failed":
                key = (p.id_number, today)
                self.failures[key] = self.failures.get(key, 0) + 1
                result = CertificationResult(cid, "failed", 0.71, ("no_match",))
            else:
                receipt = ReceiptRef(self._next("R"), f"NBSIM:{cid}:{today.isoformat()}")
                valid = valid_until_after(today) if outcome == "passed" else None
                if valid is not None:
                    p.valid_until = valid
                reasons = ("match",) if outcome == "passed" else ("uncertain_match",)
                distance = 0.38 if outcome == "passed" else 0.52
                result = CertificationResult(cid, outcome, distance, reasons, valid, receipt)
            self.certifications.append((p.person_id, result))
            self.idempotent[idempotency_key] = result
            return result

    def get_account(self, resident: Resident) -> AccountSummary:
        self._enter()
        with self._lock:
            p = self._person(resident)
            personal = sum(c.personal_fen for c in p.contributions)
            government = sum(c.government_fen for c in p.contributions)
            collective = sum(c.collective_fen for c in p.contributions)
            other = sum(c.other_fen for c in p.contributions)
            drawn = p.monthly_account_fen * len(self._periods(p))
            # the account pension is drawn from personal first (simplified: no interest)
            personal_left = max(personal - drawn, 0)
            total = personal_left + government + collective + other
            return AccountSummary(total, personal_left, collective, other, government)

    def _periods(self, p: SimPerson) -> list[str]:
        if p.first_month is None:
            return []
        today = self._today()
        y, m = int(p.first_month[:4]), int(p.first_month[5:7])
        out = []
        while (y, m) < (today.year, today.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def get_contributions(self, resident: Resident) -> list[Contribution]:
        self._enter()
        with self._lock:
            return list(self._person(resident).contributions)

    def get_payments(self, resident: Resident) -> list[Payment]:
        self._enter()
        with self._lock:
            p = self._person(resident)
            per_month = p.monthly_basic_fen + p.monthly_account_fen
            return [
                Payment(period, per_month, p.monthly_basic_fen, p.monthly_account_fen)
                for period in self._periods(p)
            ]

    def set_face(self, index: int, face: str) -> None:
        """Change what the simulated face engine decides for demo person `index`."""
        person = list(self.people.values())[index]
        self.people[person.id_number] = replace(person, face=face)
