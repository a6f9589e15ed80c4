"""The kiosk's view of the backend: a Protocol, the HTTP one (over the typed client in client/),
and an in-process simulation.

Every method either returns plain data (kiosk_app.models) or raises one of two errors:
`Unreachable` (network down, timeout, server error: worth trying again later) or
`Refused(reason)` (the backend answered and said no; `reason` is a short code, from the
problem's machine `code` through REASON_FOR_CODE, such as
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
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx

from client import clock, models
from client.capture import DeviceKey
from client.errors import ApiError, ServerProblem, TransportError
from client.http import NongbaoClient
from client.masking import mask_id, mask_name
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
T = TypeVar("T")


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


# ------------------------------------------------------------------ reasons

# The kiosk's reason for each problem `code` the backend sends (docs/problem-codes.md) that it
# names differently; any other code is the reason itself. Never the English `detail`: that is
# written for staff and may change.
REASON_FOR_CODE = {
    "session_expired": "session_expired",
    "kiosk_session_ended": "session_expired",
    "card_locked": "card_locked",
    # a card whose name is written differently (王秀蘭 / 王秀兰) is not a face problem
    "card_mismatch": "card_mismatch",
    "face_mismatch": "not_recognised",
}
# when a problem names no code of its own (an old backend, a proxy)
REASON_FOR_STATUS = {
    401: "device_not_authorised",
    403: "device_not_authorised",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    422: "invalid",
}
# opening a session: the generic refusals mean the card or the face is not the holder's
OPEN_SESSION_REASONS = {
    "forbidden": "not_recognised",
    "device_not_authorised": "not_recognised",
    "face_mismatch": "not_recognised",
}


def refusal_reason(status: int, problem: dict[str, Any]) -> str:
    """A short code from an RFC 9457 problem: its `code` (through REASON_FOR_CODE), else the
    `type`'s last part, else the status's."""
    code = problem.get("code")
    if isinstance(code, str) and code:
        return REASON_FOR_CODE.get(code, code)
    kind = problem.get("type")
    if isinstance(kind, str) and kind not in ("", "about:blank"):
        return kind.rstrip("/").rsplit("/", 1)[-1].replace("-", "_")
    return REASON_FOR_STATUS.get(status, "other")


def _refused(exc: ApiError) -> Refused:
    reason = refusal_reason(exc.status, {"code": exc.code, "type": exc.type})
    return Refused(reason, exc.detail, exc.status)


# ------------------------------------------------------------------ HTTP


class HttpKioskBackend:
    """KioskBackend over the typed client (client.NongbaoClient), with a device token."""

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
        self._api = NongbaoClient(
            base_url,
            token=token,
            timeout_s=timeout_s,
            connect_timeout_s=min(timeout_s, 5.0),
            transport=transport,
        )

    def close(self) -> None:
        self._api.close()

    def _do(self, call: Callable[[], T]) -> T:
        """Run one client call; its errors become the kiosk's two."""
        try:
            return call()
        except TransportError as exc:  # network, timeout, an answer that is not the model
            raise Unreachable(str(exc)) from exc
        except ServerProblem as exc:
            raise Unreachable(f"server error {exc.status}") from exc
        except ApiError as exc:
            raise _refused(exc) from exc

    def health(self) -> None:
        """GET /healthz (outside /api/v1); Unreachable unless it answers 2xx."""
        self._do(self._api.health)

    def open_session(self, card: CardInfo, photo: bytes | None = None) -> Resident:
        form = {"card_kind": card.kind.value, "id_number": card.id_number, "name": card.name}
        if card.card_number:
            form["card_number"] = card.card_number
        try:
            opened = self._do(lambda: self._api.open_kiosk_session(form, photo))
        except Refused as exc:
            if exc.status == 403 and exc.reason in OPEN_SESSION_REASONS:
                raise Refused(OPEN_SESSION_REASONS[exc.reason], exc.detail, exc.status) from exc
            if exc.status == 404 and exc.reason == "not_found":
                raise Refused("not_enrolled", exc.detail, exc.status) from exc
            raise
        return _resident(opened, card)

    def close_session(self, session_id: str) -> None:
        with contextlib.suppress(Refused):  # already gone is fine
            self._do(lambda: self._api.close_kiosk_session(session_id))

    def get_challenge(self, resident: Resident) -> Challenge:
        answer = self._do(
            lambda: self._api.challenge(resident.person_id, session=resident.session_id)
        )
        return Challenge(
            challenge_id=answer.challenge_id,
            nonce=answer.nonce,
            actions=tuple(answer.actions),
            expires_at=answer.expires_at,
            # the county's seconds per action, when the backend says (older backends do not)
            seconds_per_action=answer.seconds_per_action,
        )

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
        text = json.dumps(liveness, separators=(",", ":"))
        signature = None
        if self._capture_key is not None:
            # over exactly the bytes sent: the first image, every frame, the evidence text
            signature = self._capture_key.sign(
                evidence.challenge_id, evidence.nonce, images, frames, text
            )
        submission = models.CertificationIn(
            person_id=resident.person_id,
            challenge_id=evidence.challenge_id,
            nonce=evidence.nonce,
            evidence=text,
            signature=signature,
        )
        answer = self._do(
            lambda: self._api.certify(
                submission,
                images,
                frames,
                channel="kiosk",
                idempotency_key=idempotency_key,
                session=resident.session_id,
            )
        )
        return _certification(answer)

    def get_account(self, resident: Resident) -> AccountSummary:
        answer = self._do(
            lambda: self._api.account(resident.person_id, session=resident.session_id)
        )
        b = answer.buckets
        return AccountSummary(
            balance_fen=answer.balance_fen,
            personal_fen=b.personal_fen,
            collective_fen=b.collective_fen,
            other_fen=b.other_fen,
            government_fen=b.government_fen,
        )

    def get_contributions(self, resident: Resident) -> list[Contribution]:
        items = self._do(
            lambda: self._api.contributions(resident.person_id, session=resident.session_id)
        )
        return [
            Contribution(
                year=c.year,
                kind=c.kind,
                personal_fen=c.personal_fen,
                government_fen=c.government_fen,
                collective_fen=c.collective_fen,
                other_fen=c.other_fen,
                paid_on=c.paid_on,
            )
            for c in items
            if not c.reversed
        ]

    def get_payments(self, resident: Resident) -> list[Payment]:
        answer = self._do(
            lambda: self._api.payments(resident.person_id, session=resident.session_id)
        )
        return [
            Payment(
                period=p.period,
                total_fen=p.total_fen,
                basic_fen=p.basic_fen,
                account_fen=p.account_fen,
                arrears_fen=p.arrears_fen,
                status=p.status,
            )
            for p in answer.payments
        ]


def _resident(opened: models.KioskSession, card: CardInfo) -> Resident:
    """The session answer; what it leaves out comes from the card (masked) or is unknown."""
    return Resident(
        session_id=opened.session_token,
        person_id=opened.person_id,
        name_masked=opened.name_masked or mask_name(card.name),
        id_number_masked=opened.id_number_masked or mask_id(card.id_number),
        status=opened.status,
        certification_valid_until=opened.certification.valid_until,
        certification_due=opened.certification.due,
    )


def _certification(answer: models.CertificationResult) -> CertificationResult:
    receipt = answer.receipt
    return CertificationResult(
        certification_id=answer.certification_id,
        outcome=answer.outcome,
        distance=answer.distance,
        reasons=tuple(answer.reasons),
        valid_until=date.fromisoformat(answer.valid_until[:10]) if answer.valid_until else None,
        receipt=ReceiptRef(receipt.receipt_id, receipt.code) if receipt else None,
    )


# ------------------------------------------------------------------ simulation


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character of the first 17 digits."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


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
            if card.name and card.name != p.name:  # 王秀蘭 on the card, 王秀兰 registered
                raise Refused("card_mismatch", "卡上姓名与登记的不一致", 403)
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
