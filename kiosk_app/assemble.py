"""Putting a kiosk together: flow + controller + backend + devices + voice (no Kivy)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from client.capture import DeviceKey
from kiosk_app.backend import HttpKioskBackend, KioskBackend, SimulatedKioskBackend, demo_card
from kiosk_app.config import KioskConfig
from kiosk_app.controller import KioskController
from kiosk_app.devices import (
    Camera,
    CardSlot,
    ChallengeCamera,
    Printer,
    SimulatedCamera,
    SimulatedCardSlot,
    SimulatedPrinter,
    open_hardware_camera,
    open_hardware_card_slot,
    open_hardware_printer,
)
from kiosk_app.face import (
    ActionWatcher,
    BiometricsFaceGate,
    FaceGate,
    PlaybackActionWatcher,
    SimulatedActionWatcher,
    SimulatedFaceGate,
    open_action_watcher,
    open_face_gate,
)
from kiosk_app.flow import KioskFlow
from kiosk_app.help_request import HttpHelpRequests
from kiosk_app.models import CardInfo, CardKind
from kiosk_app.voice import VoicePlayer, default_voice_dir

# In the simulated demo the camera guidance and each liveness action last a few seconds,
# so a visitor can read the prompts (10 frames a second).
DEMO_FACE_SCRIPT: tuple[str | None, ...] = ("no_face",) * 12 + ("too_small",) * 14
DEMO_ACTION_FRAMES = 22


def default_data_dir() -> Path:
    """Where the kiosk keeps its capture-signing key (env NONGBAO_KIOSK_DATA)."""
    if "NONGBAO_KIOSK_DATA" in os.environ:
        return Path(os.environ["NONGBAO_KIOSK_DATA"])
    return Path.home() / ".local" / "share" / "nongbao-kiosk"


@dataclass
class Kiosk:
    flow: KioskFlow
    controller: KioskController
    backend: KioskBackend
    cards: CardSlot
    camera: Camera
    printer: Printer
    voice: VoicePlayer
    sim_actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)


def build_kiosk(
    *,
    simulate: bool,
    backend_url: str | None = None,
    token: str | None = None,
    config: KioskConfig | None = None,
    mode: str = "thread",
    clock: Callable[[], float] = time.monotonic,
    voice_dir: Path | None = None,
    voice_enabled: bool = True,
    demo_pacing: bool = True,
    receipts_dir: Path | None = None,
    data_dir: Path | None = None,
) -> Kiosk:
    config = config or KioskConfig()
    if simulate and backend_url and token:
        # the demo runs the server's face work on the same machine as the kiosk: a
        # certification's liveness analysis can take well over the usual 10 s there
        config = replace(
            config,
            http_timeout_s=max(config.http_timeout_s, 40.0),
            backend_timeout_s=max(config.backend_timeout_s, 50.0),
        )
    flow = KioskFlow(config, clock=clock, simulate=simulate)
    backend: KioskBackend
    if simulate and backend_url and token:
        # the demo kiosk against a real (demo) backend: simulated card slot, camera and
        # printer, the real HTTP client and face checks
        return _demo_kiosk(
            flow, config, backend_url, token, mode, clock, voice_dir, voice_enabled,
            receipts_dir, data_dir,
        )  # fmt: skip
    if simulate:
        backend = SimulatedKioskBackend()
        cards: CardSlot = SimulatedCardSlot()
        camera: Camera = SimulatedCamera()
        printer: Printer = SimulatedPrinter(out_dir=receipts_dir)
        face_gate: FaceGate = (
            SimulatedFaceGate(DEMO_FACE_SCRIPT) if demo_pacing else SimulatedFaceGate()
        )
        watcher: ActionWatcher = SimulatedActionWatcher(DEMO_ACTION_FRAMES if demo_pacing else 6)
    else:
        if not backend_url or not token:
            raise ValueError("a real kiosk needs the backend URL and its device token")
        backend = HttpKioskBackend(
            backend_url,
            token,
            timeout_s=config.http_timeout_s,
            capture_key=DeviceKey.load_or_create(data_dir or default_data_dir()),
        )
        cards = open_hardware_card_slot()
        camera = open_hardware_camera()
        printer = open_hardware_printer()
        face_gate = open_face_gate(False)
        watcher = open_action_watcher(False)
    voice = VoicePlayer(voice_dir or default_voice_dir(), config.volume, enabled=voice_enabled)
    controller = KioskController(
        flow,
        backend,
        cards,
        camera,
        printer,
        face_gate,
        watcher,
        speak=voice.play,
        say=voice.say,
        mode=mode,
        clock=clock,
        help_requests=None if simulate else HttpHelpRequests(backend_url or "", token or ""),
    )
    kiosk = Kiosk(flow, controller, backend, cards, camera, printer, voice)
    if simulate:
        kiosk.sim_actions = simulator_actions(kiosk)
    return kiosk


def demo_card_from_env() -> CardInfo | None:
    """The demo resident's card (`nongbao demo` sets NONGBAO_DEMO_CARD="<id number> <name>")."""
    raw = os.environ.get("NONGBAO_DEMO_CARD", "").split()
    if len(raw) != 2:
        return None
    return CardInfo(CardKind.SOCIAL_SECURITY, raw[0], raw[1], "DEMO-SSC")


def demo_face_from_env() -> list[np.ndarray]:
    """The demo resident's face photo (NONGBAO_DEMO_FACE, written by `nongbao demo`)."""
    path = os.environ.get("NONGBAO_DEMO_FACE", "")
    if not path or not Path(path).is_file():
        return []
    from PIL import Image

    from biometrics.sequences import camera_frame

    with Image.open(path) as image:
        photo = np.asarray(image.convert("RGB"))
    # as a camera sees a person standing at the kiosk: the face about a third of the frame
    # (the enrolment photo alone is a small head-and-shoulders picture)
    return [camera_frame(photo, size=(640, 480))]


def _demo_kiosk(
    flow: KioskFlow,
    config: KioskConfig,
    backend_url: str,
    token: str,
    mode: str,
    clock: Callable[[], float],
    voice_dir: Path | None,
    voice_enabled: bool,
    receipts_dir: Path | None,
    data_dir: Path | None,
) -> Kiosk:
    """The simulated kiosk that talks to the demo backend: the resident in front of its
    camera is the demo face, who does the challenge's actions (biometrics.sequences renders
    them, the backend measures them as it would a real camera's)."""
    backend = HttpKioskBackend(
        backend_url,
        token,
        timeout_s=config.http_timeout_s,
        capture_key=DeviceKey.load_or_create(data_dir or default_data_dir()),
    )
    cards = SimulatedCardSlot()
    camera = ChallengeCamera()
    camera.show(demo_face_from_env())
    printer = SimulatedPrinter(out_dir=receipts_dir)
    voice = VoicePlayer(voice_dir or default_voice_dir(), config.volume, enabled=voice_enabled)
    controller = KioskController(
        flow,
        backend,
        cards,
        camera,
        printer,
        BiometricsFaceGate(),
        PlaybackActionWatcher(camera),
        speak=voice.play,
        say=voice.say,
        mode=mode,
        clock=clock,
        help_requests=HttpHelpRequests(backend_url, token),
    )
    camera.fps = controller.camera_fps  # one new frame per read: rendered at the read rate
    kiosk = Kiosk(flow, controller, backend, cards, camera, printer, voice)
    kiosk.sim_actions = demo_strip(kiosk, demo_card_from_env())
    return kiosk


def demo_strip(kiosk: Kiosk, card: CardInfo | None) -> list[tuple[str, Callable[[], None]]]:
    """The demo strip against the demo backend: the demo resident's card, taking it, paper."""
    slot, printer = kiosk.cards, kiosk.printer
    assert isinstance(slot, SimulatedCardSlot) and isinstance(printer, SimulatedPrinter)

    def toggle_paper() -> None:
        printer.paper = None if printer.paper == 0 else 0

    strip: list[tuple[str, Callable[[], None]]] = []
    if card is not None:
        strip.append((f"{card.name}的卡", lambda: slot.insert(card)))
    return [*strip, ("取卡", slot.remove), ("缺纸/有纸", toggle_paper)]


def simulator_actions(kiosk: Kiosk) -> list[tuple[str, Callable[[], None]]]:
    """The demo strip: cards of the demo people, taking the card, network and paper."""
    slot = kiosk.cards
    backend = kiosk.backend
    printer = kiosk.printer
    assert isinstance(slot, SimulatedCardSlot)
    assert isinstance(backend, SimulatedKioskBackend)
    assert isinstance(printer, SimulatedPrinter)

    def insert(index: int, kind: CardKind = CardKind.SOCIAL_SECURITY) -> Callable[[], None]:
        return lambda: slot.insert(demo_card(index, kind))

    def toggle_network() -> None:
        backend.online = not backend.online

    def toggle_paper() -> None:
        printer.paper = None if printer.paper == 0 else 0

    return [
        ("卡A 待认证", insert(0)),
        ("卡B 已认证", insert(1)),
        ("身份证C", insert(2, CardKind.ID_CARD)),
        ("取卡", slot.remove),
        ("断网/联网", toggle_network),
        ("缺纸/有纸", toggle_paper),
    ]
