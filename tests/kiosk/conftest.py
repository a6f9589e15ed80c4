"""Fixtures of the kiosk tests: a fake clock and helpers that walk the flow to a screen."""

from __future__ import annotations

import os
from datetime import date

import pytest

# Kivy must not touch ~/.kivy or parse pytest's arguments when a test imports it.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")

from kiosk_app import flow as f
from kiosk_app.config import KioskConfig
from kiosk_app.models import (
    CardInfo,
    CardKind,
    CertificationResult,
    Challenge,
    ReceiptRef,
    Resident,
)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


CARD = CardInfo(CardKind.SOCIAL_SECURITY, "11010519491231002X", "王秀英", "SSC1")
ID_CARD = CardInfo(CardKind.ID_CARD, "11010519491231002X", "王秀英")
RESIDENT = Resident("S1", "P1", "王*英", "110105********002X", "receiving", None, True)
CHALLENGE = Challenge("C1", "nonce-1", ("blink", "turn_left"))
PASSED = CertificationResult(
    "K1", "passed", 0.3, ("match",), date(2027, 11, 30), ReceiptRef("R1", "NB:R1")
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> KioskConfig:
    return KioskConfig()


@pytest.fixture
def flow(clock: FakeClock, config: KioskConfig) -> f.KioskFlow:
    ids = iter(range(1, 10_000))
    return f.KioskFlow(config, clock=clock, new_id=lambda: f"id{next(ids)}")


def only(effects: list, kind: type):
    """The one effect of `kind` in `effects` (fails when there is none or several)."""
    found = [e for e in effects if isinstance(e, kind)]
    assert len(found) == 1, f"expected one {kind.__name__} in {effects}"
    return found[0]


def spoken(effects: list) -> list[str]:
    return [e.key for e in effects if isinstance(e, f.Speak)]


GOOD = f.QualityVerdict(ok=True, face_found=True)


def identify(flow: f.KioskFlow) -> f.OpenSession:
    """At the IDENTIFY camera: steady good frames take the photo and open the session."""
    assert flow.screen == f.Screen.IDENTIFY
    effects: list = []
    for _ in range(flow.config.steady_frames):
        effects = flow.handle(f.FrameAssessed(GOOD))
    assert only(effects, f.CaptureFace).actions == ()
    only(effects, f.StopCamera)
    opened = only(effects, f.OpenSession)
    assert opened.with_photo
    return opened


def read_card(flow: f.KioskFlow, card: CardInfo = CARD) -> f.OpenSession:
    """Insert the card, read it, look at the camera: the OpenSession request."""
    read = only(flow.handle(f.CardInserted(card.kind)), f.ReadCard)
    effects = flow.handle(f.CardRead(read.req, card))
    if not flow.config.face_to_open_session:
        return only(effects, f.OpenSession)
    only(effects, f.StartCamera)
    return identify(flow)


def to_menu(flow: f.KioskFlow, resident: Resident = RESIDENT, card: CardInfo = CARD) -> None:
    opened = read_card(flow, card)
    flow.handle(f.SessionOpened(opened.req, resident))
    assert flow.screen == f.Screen.MENU


def to_camera(flow: f.KioskFlow, challenge: Challenge = CHALLENGE) -> None:
    if flow.screen != f.Screen.MENU:
        to_menu(flow)
    req = only(flow.handle(f.Tap("certify")), f.RequestChallenge).req
    effects = flow.handle(f.ChallengeIssued(req, challenge))
    only(effects, f.StartCamera)
    assert flow.screen == f.Screen.CAMERA


def to_liveness(flow: f.KioskFlow) -> None:
    to_camera(flow)
    for _ in range(flow.config.steady_frames):
        flow.handle(f.FrameAssessed(GOOD))
    assert flow.screen == f.Screen.LIVENESS


def to_submit(flow: f.KioskFlow) -> f.Submit:
    to_liveness(flow)
    effects: list = []
    for action in CHALLENGE.actions:
        effects = flow.handle(f.ActionDetected(action))
    assert flow.screen == f.Screen.SUBMITTING
    return only(effects, f.Submit)
