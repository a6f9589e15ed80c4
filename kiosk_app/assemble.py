"""Putting a kiosk together: flow + controller + backend + devices + voice (no Kivy)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from client.capture import DeviceKey
from kiosk_app.backend import HttpKioskBackend, KioskBackend, SimulatedKioskBackend, demo_card
from kiosk_app.config import KioskConfig
from kiosk_app.controller import KioskController
from kiosk_app.devices import (
    Camera,
    CardSlot,
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
    FaceGate,
    SimulatedActionWatcher,
    SimulatedFaceGate,
    open_action_watcher,
    open_face_gate,
)
from kiosk_app.flow import KioskFlow
from kiosk_app.models import CardKind
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
    flow = KioskFlow(config, clock=clock, simulate=simulate)
    backend: KioskBackend
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
    )
    kiosk = Kiosk(flow, controller, backend, cards, camera, printer, voice)
    if simulate:
        kiosk.sim_actions = simulator_actions(kiosk)
    return kiosk


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
