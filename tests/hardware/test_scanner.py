"""Scanners: typed lines, a serial line through a pseudo-terminal, and QR codes in frames."""

from __future__ import annotations

import io
import os
import tty
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode

from hardware.camera import SimulatedCamera
from hardware.errors import DeviceTimeoutError
from hardware.scanner import CameraQrScanner, KeyboardWedgeScanner, SerialScanner, decode_qr

from .conftest import GUARD


def qr_png(path: Path, text: str) -> Path:
    with path.open("wb") as out:
        qrcode.make(text, border=4, box_size=6).save(out)
    return path


def test_a_keyboard_wedge_scanner_yields_lines() -> None:
    scanner = KeyboardWedgeScanner(io.StringIO("6901234567892\r\n\nNONGBAO:R1\n"))
    assert [scan.text for scan in scanner.scans()] == ["6901234567892", "NONGBAO:R1"]


def test_a_serial_scanner_reads_crlf_utf8_and_gbk() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    scanner = SerialScanner(os.ttyname(slave))
    try:
        os.write(master, "回执:R20261127-01\r\n".encode() + "张秀英\r".encode("gbk") + b"ABC")
        assert scanner.read(timeout=GUARD).text == "回执:R20261127-01"
        assert scanner.read(timeout=GUARD).text == "张秀英"
        with pytest.raises(DeviceTimeoutError):
            scanner.read(timeout=0.3)  # "ABC" has no end yet
        os.write(master, b"\n")
        assert scanner.read(timeout=GUARD).text == "ABC"
    finally:
        scanner.close()
        os.close(master)
        os.close(slave)


def test_a_qr_code_is_decoded_from_a_frame(tmp_path: Path) -> None:
    path = qr_png(tmp_path / "qr.png", "NONGBAO:R20261127-000123")
    bgr = cv2.imread(str(path))
    assert bgr is not None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert decode_qr(rgb) == "NONGBAO:R20261127-000123"
    assert decode_qr(np.full((200, 200, 3), 255, np.uint8)) is None


def test_a_qr_code_is_scanned_through_a_camera(tmp_path: Path) -> None:
    blank = tmp_path / "0.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 200, np.uint8))
    code = qr_png(tmp_path / "1.png", "https://nongbao.example/r/42")
    scanner = CameraQrScanner(SimulatedCamera([blank, code], fps=20))
    try:
        scan = scanner.read(timeout=GUARD)
    finally:
        scanner.close()
    assert scan.text == "https://nongbao.example/r/42"
