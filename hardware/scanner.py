"""Barcode / QR scanners: keyboard-wedge, serial, and a camera with OpenCV's QR detector.

Hand scanners either "type" what they read (keyboard wedge: a line of text ending in
Enter) or send it on a serial line (USB-CDC), ending in CR, LF or CR LF depending on the
scanner's settings. Chinese content arrives as UTF-8 or, on scanners set to GBK, as GBK.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

import cv2
import numpy as np

from hardware.camera import BackgroundCamera, Frame
from hardware.errors import DeviceNotFoundError, DeviceTimeoutError

TERMINATORS = b"\r\n"


@dataclass(frozen=True)
class Scan:
    text: str
    timestamp: float
    source: str


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gb18030", errors="replace")


class KeyboardWedgeScanner:
    """A scanner that types: one scan per line of `stream` (stdin by default)."""

    def __init__(self, stream: TextIO | None = None, name: str = "keyboard wedge") -> None:
        self.stream = stream if stream is not None else sys.stdin
        self.name = name

    def scans(self) -> Iterator[Scan]:
        """Every non-empty line until the stream ends."""
        for line in self.stream:
            text = line.strip("\r\n")
            if text:
                yield Scan(text, time.time(), self.name)

    def read(self) -> Scan:
        for scan in self.scans():
            return scan
        raise DeviceNotFoundError(f"{self.name}: the input ended")

    def close(self) -> None:
        pass


class SerialScanner:
    """A scanner on a serial port (or a USB scanner in its USB-COM mode)."""

    def __init__(self, port: str, baudrate: int = 9600) -> None:
        import serial

        self.name = f"scanner on {port}"
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=0.2)
        except serial.SerialException as exc:
            raise DeviceNotFoundError(f"cannot open the scanner on {port}: {exc}") from exc
        self._buffer = b""

    def _next_line(self) -> bytes | None:
        for index, byte in enumerate(self._buffer):
            if byte in TERMINATORS:
                line, self._buffer = self._buffer[:index], self._buffer[index + 1 :]
                return line
        return None

    def read(self, timeout: float | None = None) -> Scan:
        """The next scan; DeviceTimeoutError when nothing is scanned in `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            line = self._next_line()
            if line:  # CR LF leaves an empty line between the two: skip it
                return Scan(decode_text(line), time.time(), self.name)
            if line is None:
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeviceTimeoutError(f"nothing was scanned in {timeout:g} s")
                self._buffer += self._serial.read(max(1, self._serial.in_waiting))

    def scans(self) -> Iterator[Scan]:
        while True:
            yield self.read()

    def close(self) -> None:
        self._serial.close()


_detector = cv2.QRCodeDetector()


def decode_qr(image: Frame | np.ndarray) -> str | None:
    """The text of a QR code in an RGB frame or image, or None when there is none."""
    pixels = image.image if isinstance(image, Frame) else image
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    text, points, _ = _detector.detectAndDecode(grey)
    return text if points is not None and text else None


class CameraQrScanner:
    """Scans QR codes held up to a camera (the kiosk's, or a second one)."""

    def __init__(self, camera: BackgroundCamera) -> None:
        self.camera = camera
        self.name = f"QR on {camera.name}"

    def read(self, timeout: float | None = None) -> Scan:
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            wait = 1.0 if deadline is None else max(0.01, min(1.0, deadline - time.monotonic()))
            try:
                frame = self.camera.next_frame(wait)
            except DeviceTimeoutError:
                continue  # a camera reconnecting: keep looking until our own deadline
            text = decode_qr(frame)
            if text:
                return Scan(text, frame.timestamp, self.name)
        raise DeviceTimeoutError(f"no QR code was seen in {timeout:g} s")

    def close(self) -> None:
        self.camera.close()
