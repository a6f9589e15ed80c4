"""Fixtures of the device tests: real pcscd + vpcd, a printer on a TCP port, media files.

Nothing here is mocked: the PC/SC tests talk to pcscd through libpcsclite, the virtual card
is a separate process speaking vpcd's protocol, the printer is a TCP listener answering
status queries the way a printer does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from hardware.errors import DeviceNotFoundError

ROOT = Path(__file__).resolve().parents[2]
VPCD_LOCK = Path("/tmp/nongbao-vpcd.lock")  # one virtual card at a time, even under xdist
GUARD = 20.0  # seconds: only a failure guard, never a timing assertion


def wait_until(condition: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.05)


# --------------------------------------------------------------------------- PC/SC


def _readers() -> list[str] | None:
    from hardware.sscard import PcscSocialSecurityCardReader

    try:
        return PcscSocialSecurityCardReader.list_readers()
    except DeviceNotFoundError:
        return None


@pytest.fixture(scope="session")
def pcscd() -> list[str]:
    """A running pcscd with the vpcd driver, started here when it is not running.

    It is started as a daemon with --auto-exit: it ends by itself a minute after its last
    client, so parallel test workers never stop it under each other's feet.
    """
    if _readers() is None:
        binary = shutil.which("pcscd") or shutil.which("pcscd", path="/usr/sbin:/sbin")
        if binary is None:
            pytest.fail(
                "pcscd is not installed: run `make setup` (Debian packages pcscd, vsmartcard-vpcd)"
            )
        started = subprocess.run(
            [binary, "--auto-exit"], capture_output=True, text=True, timeout=GUARD
        )
        # a non-zero status is fine when another worker's pcscd won the race
        wait_until(lambda: _readers() is not None, f"pcscd to start ({started.stderr.strip()})")
    readers = _readers() or []
    if not any(name.startswith("Virtual PCD") for name in readers):
        pytest.fail(f"pcscd runs without the vpcd reader (vsmartcard-vpcd); readers: {readers}")
    return readers


def _card_in_vpcd() -> bool:
    from hardware.sscard import PcscSocialSecurityCardReader

    reader = PcscSocialSecurityCardReader("Virtual PCD 00 00")
    try:
        return reader.card_present()
    finally:
        reader.close()


@pytest.fixture
def virtual_card(
    pcscd: list[str], tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Inserts a virtual card: `virtual_card(fixture_dict, "--remove-after", "6")`.

    Each card is a `python -m hardware.vcard` process; it is stopped after the test and
    the reader is seen empty again before the next test may insert a card.
    """
    started: list[subprocess.Popen[str]] = []
    with VPCD_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wait_until(lambda: not _card_in_vpcd(), "the virtual reader to be empty")

        def insert(fixture: dict[str, object], *options: str) -> subprocess.Popen[str]:
            path = tmp_path / f"card-{len(started)}.json"
            path.write_text(json.dumps(fixture, ensure_ascii=False), encoding="utf-8")
            command = [sys.executable, "-m", "hardware.vcard", "--fixture", str(path), *options]
            process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            started.append(process)
            return process

        yield insert
        for process in started:
            if process.poll() is None:
                process.terminate()
            process.wait(timeout=10)
            if process.stdout:
                process.stdout.close()
        wait_until(lambda: not _card_in_vpcd(), "the virtual card to leave")


# --------------------------------------------------------------------------- printer


class PrinterServer:
    """A network printer on 127.0.0.1: keeps every byte, answers DLE EOT 2 and 4.

    `cover_open` / `paper_out` change what the status answers say, bit for bit as in the
    ESC/POS manual (fixed bits 0x12, cover open 0x04, paper end 0x60 on the paper sensor).
    """

    def __init__(self) -> None:
        self.cover_open = False
        self.paper_out = False
        self.received = bytearray()
        self.connections = 0
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("127.0.0.1", 9100))
        except OSError:  # 9100 taken (a real printer daemon, another test run)
            self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        self.port = self._socket.getsockname()[1]
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def status_answer(self, n: int) -> bytes:
        value = 0x12
        if n == 2 and self.cover_open:
            value |= 0x04
        if n == 2 and self.paper_out:
            value |= 0x20
        if n == 4 and self.paper_out:
            value |= 0x60
        return bytes([value])

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with conn:
                self._serve_connection(conn)
            with self._done:
                self.connections += 1
                self._done.notify_all()

    def _serve_connection(self, conn: socket.socket) -> None:
        pending = b""
        while chunk := conn.recv(65536):
            self.received += chunk
            pending += chunk
            while (start := pending.find(b"\x10\x04")) >= 0 and len(pending) > start + 2:
                conn.sendall(self.status_answer(pending[start + 2]))
                pending = pending[start + 3 :]
            pending = pending[-2:]

    def wait_for_connections(self, count: int) -> bytes:
        with self._done:
            if not self._done.wait_for(lambda: self.connections >= count, GUARD):
                pytest.fail("the printer connection was not closed")
        return bytes(self.received)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()


@pytest.fixture
def printer_server() -> Iterator[PrinterServer]:
    server = PrinterServer()
    yield server
    server.close()


# --------------------------------------------------------------------------- media

COLOURS_RGB = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)]


def write_video(path: Path, colours: list[tuple[int, int, int]] = COLOURS_RGB) -> Path:
    """A small MJPG video, one solid frame per colour (RGB), made at test time."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write MJPG videos here"
    for rgb in colours:
        writer.write(np.full((48, 64, 3), rgb[::-1], np.uint8))
    writer.release()
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "colours.avi")


def nearest_colour(pixel: np.ndarray) -> tuple[int, int, int]:
    """The test colour a decoded (JPEG-blurred) pixel stands for."""
    return min(
        COLOURS_RGB, key=lambda c: sum(abs(int(a) - b) for a, b in zip(pixel, c, strict=True))
    )
