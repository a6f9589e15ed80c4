"""The adapters to `hardware/`, against its own simulators: when its API moves, these fail
and point at kiosk_app/devices.py, the one file to change."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk_app.devices import (
    CardUnreadable,
    DeviceProblem,
    HardwareCamera,
    HardwareCardSlot,
    HardwarePrinter,
    PaperOut,
    PrinterBroken,
    SimulatedCamera,
    SimulatedCardSlot,
    SimulatedPrinter,
    encode_jpeg,
)
from kiosk_app.models import CardKind, ReceiptContent

RECEIPT = ReceiptContent(
    "城乡居民养老保险 生存认证凭条", ("姓名：王*英", "结果：认证成功"), "NB:R1"
)


def test_hardware_printer_prints_and_maps_paper_out_and_cover() -> None:
    from hardware.printer import SimulatedPrinter as HwPrinter

    device = HwPrinter()
    printer = HardwarePrinter(device)
    printer.print_receipt(RECEIPT)
    assert len(device.jobs) == 1
    assert Image.open(io.BytesIO(device.previews[0])).height > 100
    device.paper_out = True
    with pytest.raises(PaperOut):
        printer.print_receipt(RECEIPT)
    device.paper_out, device.cover_open = False, True
    with pytest.raises(PrinterBroken):
        printer.print_receipt(RECEIPT)
    assert len(device.jobs) == 1


def test_no_printer_configured() -> None:
    with pytest.raises(DeviceProblem):
        HardwarePrinter(None)


def test_hardware_camera_opens_on_start_and_closes_on_stop(tmp_path: Path) -> None:
    from hardware.camera import SimulatedCamera as HwCamera

    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR order on disk
    cv2.imwrite(str(tmp_path / "f0.png"), image)
    opened: list[HwCamera] = []

    def opener() -> HwCamera:
        opened.append(HwCamera(tmp_path, fps=50))
        return opened[-1]

    camera = HardwareCamera(opener)
    assert camera.read() is None and opened == []
    camera.start()
    deadline = time.monotonic() + 5
    frame = camera.read()
    while frame is None and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the grabber's first frame
        frame = camera.read()
    assert frame is not None and frame.shape == (120, 160, 3)
    assert tuple(frame[0, 0]) == (255, 0, 0)  # RGB for us
    camera.stop()
    assert opened[0].status == "closed" and camera.read() is None


def test_no_camera_configured() -> None:
    camera = HardwareCamera(lambda: None)
    with pytest.raises(DeviceProblem):
        camera.start()


class FakeReader:
    """Stands in for a hardware.cards.CardReader."""

    def __init__(self, data=None, error: Exception | None = None) -> None:
        self.data, self.error, self.closed = data, error, False
        self.callback: Any = None  # the watcher's, once watch() was called

    def watch(self, callback):
        self.callback = callback
        return self

    def stop(self) -> None:
        pass

    def read(self, timeout=None):
        if self.error:
            raise self.error
        return self.data

    def close(self) -> None:
        self.closed = True


def test_hardware_card_slot_maps_events_data_and_errors() -> None:
    from hardware.cards import CardData, CardEvent
    from hardware.errors import CardRemovedError

    ssc = FakeReader(CardData("ssc", "11010519491231002X", "王秀英", card_number="A1"))
    idr = FakeReader(error=CardRemovedError("pulled"))
    slot = HardwareCardSlot({CardKind.SOCIAL_SECURITY: ssc, CardKind.ID_CARD: idr})
    events: list[object] = []
    slot.watch(events.append, lambda: events.append("removed"))
    ssc.callback(CardEvent("inserted", "pcsc"))
    idr.callback(CardEvent("inserted", "serial"))
    ssc.callback(CardEvent("removed", "pcsc"))
    assert events == [CardKind.SOCIAL_SECURITY, CardKind.ID_CARD, "removed"]
    card = slot.read(CardKind.SOCIAL_SECURITY, 1.0)
    assert (card.kind, card.id_number, card.name, card.card_number) == (
        CardKind.SOCIAL_SECURITY,
        "11010519491231002X",
        "王秀英",
        "A1",
    )
    with pytest.raises(CardUnreadable):
        slot.read(CardKind.ID_CARD, 1.0)
    slot.close()
    assert ssc.closed and idr.closed


def test_no_card_reader_configured() -> None:
    with pytest.raises(DeviceProblem):
        HardwareCardSlot({})


def test_simulated_devices() -> None:
    slot = SimulatedCardSlot()
    seen: list[object] = []
    slot.watch(seen.append, lambda: seen.append("out"))
    with pytest.raises(CardUnreadable):
        slot.read(CardKind.SOCIAL_SECURITY, 1)
    printer = SimulatedPrinter(paper=1)
    printer.print_receipt(RECEIPT)
    with pytest.raises(PaperOut):
        printer.print_receipt(RECEIPT)
    printer.broken = True
    with pytest.raises(PrinterBroken):
        printer.print_receipt(RECEIPT)
    camera = SimulatedCamera(64, 48)
    frame = camera.read()
    assert frame is not None and frame.shape == (48, 64, 3)
    camera.broken = True
    assert camera.read() is None


def test_encode_jpeg_round_trip() -> None:
    frame = SimulatedCamera(64, 48).read()
    assert frame is not None
    data = encode_jpeg(frame)
    assert data[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_biometrics_action_watcher_on_a_still_photo_and_an_unknown_action() -> None:
    from biometrics.image import load_image
    from kiosk_app.face import BiometricsActionWatcher, TimedActionWatcher

    photo = load_image(Path("/work/shared/faces/face_recognition/examples/obama-480p.jpg"))
    watcher = BiometricsActionWatcher(fallback=TimedActionWatcher(window_s=0.0, min_frames=2))
    watcher.begin(("blink", "turn_left"), 1000.0)
    results = [watcher.feed(photo, 1000.0 + i / 10) for i in range(6)]
    # a photo never blinks: no action is ever done; every frame is measured
    assert [done for done, _ in results] == [0] * 6
    first = results[0][1]
    assert first is not None and first["face"] is True and first["t"] == 1000.0
    assert {"ear", "mar", "yaw", "aspect"} <= set(first)
    assert isinstance(first["shape"], list) and len(first["shape"]) == 468  # the face mesh
    watcher.begin(("blink", "wave_hand"), 0.0)  # an action biometrics does not know
    assert watcher.feed(photo, 0.0)[0] == 0
    assert watcher.feed(photo, 0.1)[0] == 1  # the timed fallback


def test_biometrics_face_gate_on_a_real_photo_and_on_nothing() -> None:
    from biometrics.image import load_image
    from kiosk_app.face import BiometricsFaceGate

    gate = BiometricsFaceGate()
    photo = load_image(Path("/work/shared/faces/face_recognition/examples/obama-480p.jpg"))
    verdict = gate.assess(photo)
    assert verdict.face_found
    assert verdict.ok or verdict.reason is not None
    empty = gate.assess(np.full((480, 640, 3), 128, np.uint8))
    assert (empty.ok, empty.face_found, empty.reason) == (False, False, "no_face")
    assert empty.prompt_zh and empty.prompt_en


def test_hardware_card_slot_with_the_hardware_simulated_reader() -> None:
    from hardware.factory import open_reader
    from hardware.sscard import SimulatedSocialSecurityCardReader

    reader = open_reader("ssc")  # the default hardware config: a simulated reader
    assert isinstance(reader, SimulatedSocialSecurityCardReader)
    slot = HardwareCardSlot({CardKind.SOCIAL_SECURITY: reader})
    events: list[object] = []
    slot.watch(events.append, lambda: events.append("removed"))
    reader.insert()
    deadline = time.monotonic() + 5
    while not events and time.monotonic() < deadline:
        time.sleep(0.01)  # the watcher may report from its own thread
    assert events[:1] == [CardKind.SOCIAL_SECURITY]
    card = slot.read(CardKind.SOCIAL_SECURITY, 2.0)
    assert card.kind == CardKind.SOCIAL_SECURITY and len(card.id_number) == 18 and card.name
    reader.remove()
    deadline = time.monotonic() + 5
    while "removed" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "removed" in events
    with pytest.raises(CardUnreadable):
        slot.read(CardKind.SOCIAL_SECURITY, 0.1)
    slot.close()
