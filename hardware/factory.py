"""Opening the devices a configuration names (hardware/config.py): one factory per kind.

The device modules never import this one (nor config's factories): the modules form a tree,
with this factory at the top, so there is no import circle between cards, printer and config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hardware.config import ConfigError, DeviceConfig

if TYPE_CHECKING:
    from hardware.camera import BackgroundCamera
    from hardware.idcard import SerialIdCardReader, SimulatedIdCardReader
    from hardware.printer import Printer
    from hardware.scanner import CameraQrScanner, KeyboardWedgeScanner, SerialScanner
    from hardware.sscard import PcscSocialSecurityCardReader, SimulatedSocialSecurityCardReader

__all__ = [
    "demo_media_folder",
    "open_camera",
    "open_card_reader",
    "open_id_card_reader",
    "open_printer",
    "open_reader",
    "open_scanner",
]


def demo_media_folder() -> Path:
    """A few test-card images for the simulated camera when no media is configured."""
    import cv2
    import numpy as np

    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nongbao-test-card"
    if len(list(folder.glob("*.png"))) == 8:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(8):
        image = np.zeros((480, 640, 3), np.uint8)
        for bar, colour in enumerate([(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0)]):
            image[:, bar * 160 : (bar + 1) * 160] = colour
        cv2.rectangle(image, (index * 70, 200), (index * 70 + 80, 280), (0, 0, 0), -1)
        cv2.putText(image, "NONGBAO TEST", (170, 420), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3)
        cv2.imwrite(str(folder / f"frame-{index}.png"), image)
    return folder


def open_camera(config: DeviceConfig | None = None) -> BackgroundCamera | None:
    """An `OpenCVCamera` or `SimulatedCamera` (already grabbing), or None for "none"."""
    from hardware.camera import OpenCVCamera, SimulatedCamera

    config = config or DeviceConfig.load()
    cam = config.camera
    if cam.kind == "none":
        return None
    if cam.kind == "opencv":
        return OpenCVCamera(cam.source, cam.width, cam.height, cam.fps)
    return SimulatedCamera(cam.media or demo_media_folder(), fps=cam.fps or 15.0, loop=cam.loop)


def open_card_reader(
    config: DeviceConfig | None = None,
) -> PcscSocialSecurityCardReader | SimulatedSocialSecurityCardReader | None:
    """The social security card reader, or None for "none"."""
    from hardware.sscard import PcscSocialSecurityCardReader, SimulatedSocialSecurityCardReader

    config = config or DeviceConfig.load()
    reader = config.card_reader
    if reader.kind == "none":
        return None
    if reader.kind == "pcsc":
        return PcscSocialSecurityCardReader(reader.reader)
    return SimulatedSocialSecurityCardReader(reader.fixture, inserted=reader.inserted)


def open_id_card_reader(config: DeviceConfig | None = None) -> SerialIdCardReader | None:
    """The resident ID card reader, or None for "none"."""
    from hardware.idcard import SerialIdCardReader, SimulatedIdCardReader

    config = config or DeviceConfig.load()
    reader = config.id_reader
    if reader.kind == "none":
        return None
    if reader.kind == "serial":
        return SerialIdCardReader(reader.port, reader.baudrate)
    return SimulatedIdCardReader(reader.fixture, inserted=reader.inserted)


def open_scanner(
    config: DeviceConfig | None = None, camera: BackgroundCamera | None = None
) -> KeyboardWedgeScanner | SerialScanner | CameraQrScanner | None:
    """The code scanner; kind "camera" needs the camera it should watch."""
    from hardware.scanner import CameraQrScanner, KeyboardWedgeScanner, SerialScanner

    config = config or DeviceConfig.load()
    scanner = config.scanner
    if scanner.kind == "none":
        return None
    if scanner.kind == "serial":
        return SerialScanner(scanner.port, scanner.baudrate)
    if scanner.kind == "camera":
        camera = camera or open_camera(config)
        if camera is None:
            raise ConfigError("scanner.kind = camera needs a camera, but camera.kind is none")
        return CameraQrScanner(camera)
    return KeyboardWedgeScanner()


def open_printer(config: DeviceConfig | None = None) -> Printer | None:
    """The receipt printer, or None for "none"."""
    from hardware.printer import EscPosPrinter, SimulatedPrinter

    config = config or DeviceConfig.load()
    p = config.printer
    options: dict[str, Any] = {"width_mm": p.width_mm, "charset": p.charset}
    if p.kind == "none":
        return None
    if p.kind == "simulated":
        return SimulatedPrinter(p.out_dir, **options)
    if p.kind == "file":
        return EscPosPrinter.file(p.path, **options)
    options["check_status"] = p.check_status
    if p.kind == "network":
        return EscPosPrinter.network(p.host, p.port, **options)
    if p.kind == "serial":
        return EscPosPrinter.serial(p.device, p.baudrate, **options)
    if not (p.usb_vendor and p.usb_product):
        raise ConfigError("printer.usb_vendor and printer.usb_product are needed for a USB printer")
    return EscPosPrinter.usb(int(p.usb_vendor, 16), int(p.usb_product, 16), **options)


def open_reader(
    kind: Literal["ssc", "idcard"], config: DeviceConfig | None = None
) -> (
    PcscSocialSecurityCardReader
    | SimulatedSocialSecurityCardReader
    | SerialIdCardReader
    | SimulatedIdCardReader
    | None
):
    """The configured reader of one kind of card ("ssc" or "idcard")."""
    return open_card_reader(config) if kind == "ssc" else open_id_card_reader(config)
