"""Fixtures of the field app tests: a fast-KDF device store, a fake clock, a fake backend
client for the unit tests, and helpers for the tests against a real backend."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from field_app import vault as vlt
from field_app.client import ApiError, Challenge, Problem, Token, Unreachable, Worklist, WorkPerson
from field_app.flow import FieldFlow
from field_app.ports import Devices, Fix, Quality
from field_app.session import FieldSession
from field_app.store import DeviceStore
from tests.backend.conftest import api  # noqa: F401  (the real backend, in process)

PIN = "246810"
ID_1 = "11010519500101011X"


class FakeClock:
    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def challenge(person_id: str, n: int = 1) -> Challenge:
    return Challenge(
        challenge_id=f"ch-{person_id}-{n}",
        nonce=f"nonce-{person_id}-{n}",
        actions=["blink", "turn_left"],
        person_id=person_id,
        issued_at="2026-11-20T00:00:00+00:00",
        expires_at="2026-12-04T00:00:00+00:00",
    )


def person(
    pid: str,
    name: str,
    id_number: str,
    *,
    village: str = "V001",
    homebound: bool = False,
    face: bool = True,
) -> WorkPerson:
    return WorkPerson(
        person_id=pid,
        name=name,
        id_number=id_number,
        id_number_masked=id_number[:6] + "********" + id_number[-4:],
        birth_date="1950-01-01",
        gender="male",
        village_code=village,
        village_name={"V001": "东村", "V002": "西村"}[village],
        address="城关镇东村",
        phone="13800000000",
        homebound=homebound,
        due_state="overdue",
        face_template=base64.b64encode(b"T" * 160).decode() if face else None,
    )


def worklist() -> Worklist:
    return Worklist(
        generated_at="2026-11-27T01:00:00+00:00",
        today="2026-11-27",
        worker="field_worker",
        persons=[
            person("P1", "王秀英", ID_1, homebound=True),
            person("P2", "李四", "110105195001010213", homebound=True),
            person("P3", "张三", "110105195001010310"),
            person("P4", "赵六", "110105195001010417", face=False),
        ],
    )


class FakeClient:
    """Stands in for FieldClient: scripted answers, every call recorded."""

    def __init__(self, base_url: str = "http://backend", token: str | None = None) -> None:
        self.base_url, self.token = base_url, token
        self.calls: list[tuple[str, Any]] = []
        self.script: list[Any] = []  # per certify/visit call: an exception to raise, or a dict
        self.role = "field_worker"
        self.password = "pw"
        self.list = worklist()
        self.issued = 0
        self.up = True  # what the health check answers

    def healthy(self) -> bool:
        self.calls.append(("healthy", None))
        return self.up

    def sign_in(self, username: str, password: str) -> Token:
        self.calls.append(("sign_in", username))
        if password != self.password:
            raise ApiError(401, Problem(status=401, detail="wrong username or password"))
        return Token(access_token="tok-" + username, expires_in=3600, role=self.role)

    def worklist(self, village: str | None = None) -> Worklist:
        self.calls.append(("worklist", village))
        return self.list.model_copy(deep=True)

    def challenge(self, person_id: str) -> Challenge:
        self.issued += 1
        self.calls.append(("challenge", person_id))
        return challenge(person_id, self.issued)

    def _next(self, default: dict[str, Any]) -> dict[str, Any]:
        answer = self.script.pop(0) if self.script else default
        if isinstance(answer, Exception):
            raise answer
        return answer

    def certify(self, sub: Any, images: Any, frames: Any = ()) -> Any:
        from field_app.client import CertificationResult

        self.calls.append(("certify", sub.client_id))
        return CertificationResult.model_validate(
            self._next(
                {
                    "certification_id": "cer1",
                    "outcome": "passed",
                    "distance": 0.4,
                    "reasons": [],
                    "valid_until": "2027-11-30",
                }
            )
        )

    def visit(self, visit: Any) -> Any:
        from field_app.client import VisitResult

        self.calls.append(("visit", visit.client_id))
        return VisitResult.model_validate(
            self._next(
                {
                    "visit_id": visit.client_id,
                    "person_id": visit.person_id,
                    "outcome": visit.outcome,
                    "recorded_on": "2026-11-27",
                }
            )
        )

    def attach(
        self, client_id: str, person_id: str, attestation: str, note: str, documents: Any
    ) -> dict[str, Any]:
        self.calls.append(("attach", client_id))
        return {"client_id": client_id, "documents": len(documents)}


def unreachable() -> Unreachable:
    return Unreachable("ConnectError: connection refused")


def problem(status: int, detail: str) -> ApiError:
    return ApiError(status, Problem(status=status, detail=detail, title="x"))


class ScriptedGate:
    def __init__(self, script: list[str | None]) -> None:
        self.script = list(script)

    def assess(self, frame: np.ndarray) -> Quality:
        reason = self.script.pop(0) if self.script else None
        return (
            Quality(True, True)
            if reason is None
            else Quality(False, reason != "no_face", f"zh:{reason}", f"en:{reason}")
        )


class FixedMatcher:
    def __init__(self, distance: float | None) -> None:
        self.value = distance

    def distance(self, template_b64: str, image: np.ndarray) -> float | None:
        return self.value


class Locator:
    def __init__(self, fix: Fix | None = Fix(30.12345678, 104.5, 9.4)) -> None:
        self.value = fix

    def fix(self) -> Fix | None:
        return self.value


def fake_devices(distance: float | None = 0.42, gate: list[str | None] | None = None) -> Devices:
    from field_app.devices import SimulatedWatcher

    return Devices(
        ScriptedGate(gate or []),
        SimulatedWatcher(),
        FixedMatcher(distance),
        Locator(),
        lambda frame: b"JPEG" + bytes(frame.shape[:1]),
    )


FRAME = np.zeros((8, 8, 3), np.uint8)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeviceStore]:
    s = DeviceStore(tmp_path / "device" / "field.sqlite3", cost=vlt.FAST_COST)
    yield s
    s.close()


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def session(store: DeviceStore, fake: FakeClient, clock: FakeClock) -> FieldSession:
    def factory(base_url: str, token: str | None) -> Any:
        fake.base_url, fake.token = base_url, token
        return fake

    return FieldSession(store, client_factory=factory, clock=clock)


@pytest.fixture
def signed_in(session: FieldSession) -> FieldSession:
    session.sign_in_online("http://backend", "field_worker", "pw", PIN)
    session.download_worklist()
    return session


def walk_face(flow: FieldFlow, frames: int = 20, step: Callable[[], None] | None = None) -> None:
    """Feed frames until the face screen is left."""
    for _ in range(frames):
        if flow.screen != "face":
            return
        flow.frame(FRAME)
        if step:
            step()
