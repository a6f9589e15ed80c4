"""Resident ID card (居民身份证) readers on a serial line, GA 467 framing, and a simulator.

Frames, both ways: preamble `AA AA AA 96 69`, a 2-byte big-endian length of what follows,
then (command) CMD PARA DATA or (response) SW1 SW2 SW3 DATA, then a checksum: the XOR of
every byte from the length to the end of DATA. SW3 is the outcome (90 done, 9F card
found, 80 no card, ...).

"Read basic information" (30 01) answers a 2-byte text length (256), a 2-byte photo
length (1024), the text and the photo. The text is UCS-2 little-endian in fixed fields,
see `TEXT_FIELDS`. The photo is encrypted by the card standard (it needs the licensed
decoder library); we hand its bytes on untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

from hardware.cards import CardData, CardEventCallback, PollingCardWatcher, ethnicity_name, sex_name
from hardware.errors import (
    CardDataError,
    CardError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    NoCardError,
    ProtocolError,
)

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
FIND_CARD = b"\x20\x01"
SELECT_CARD = b"\x20\x02"
READ_BASIC = b"\x30\x01"
TEXT_SIZE, PHOTO_SIZE = 256, 1024
DEFAULT_FIXTURE = Path(__file__).with_name("fixtures") / "idcard_demo.json"

SW3_OK, SW3_FOUND, SW3_NO_CARD, SW3_SELECT_FAILED = 0x90, 0x9F, 0x80, 0x81
SW3_MESSAGES = {
    0x10: "the reader received a frame with a bad checksum",
    0x11: "the reader received a frame of the wrong length",
    0x21: "the reader does not know this command",
    0x23: "the reader refuses: not authorised",
    0x24: "the reader reports an unrecognised error",
    0x31: "the card failed the reader's authentication (a forged card?)",
    0x32: "the reader's security module failed the card's authentication",
    0x33: "the card's data failed verification",
    0x40: "the card type is not recognised (not a second-generation ID card?)",
    0x41: "the card could not be read; hold it still on the reader",
    0x60: "the reader's security module failed its self-test",
    0x66: "the reader's security module is not authorised",
    0x80: "no card on the reader",
    0x81: "the card could not be selected; hold it still on the reader",
}

# (field, size in bytes) in the order of the 256-byte text block
TEXT_FIELDS: tuple[tuple[str, int], ...] = (
    ("name", 30),
    ("sex", 2),
    ("ethnicity", 4),
    ("birth_date", 16),
    ("address", 70),
    ("id_number", 36),
    ("authority", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
)


# --------------------------------------------------------------------------- framing


def checksum(body: bytes) -> int:
    value = 0
    for byte in body:
        value ^= byte
    return value


def _frame(payload: bytes) -> bytes:
    body = (len(payload) + 1).to_bytes(2, "big") + payload
    return PREAMBLE + body + bytes([checksum(body)])


def encode_command(command: bytes, data: bytes = b"") -> bytes:
    return _frame(command + data)


def encode_response(sw3: int, data: bytes = b"") -> bytes:
    return _frame(b"\x00\x00" + bytes([sw3]) + data)


class SerialLike(Protocol):
    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...


def read_frame(port: SerialLike) -> bytes:
    """One frame's payload (between length and checksum), checked.

    `port.read` must return fewer bytes than asked when its timeout passes.
    """
    window = b""
    while window != PREAMBLE:  # skip line noise until a preamble
        byte = port.read(1)
        if not byte:
            if window:
                raise ProtocolError("the ID card reader sent a truncated frame (in the preamble)")
            raise DeviceTimeoutError("the ID card reader did not answer; is it connected?")
        window = (window + byte)[-len(PREAMBLE) :]
    header = port.read(2)
    length = int.from_bytes(header, "big") if len(header) == 2 else 0
    body = port.read(length) if length else b""
    if len(header) < 2 or len(body) < length or length < 1:
        raise ProtocolError(
            f"the ID card reader sent a truncated frame ({len(body)} of {length} bytes)"
        )
    payload, received = body[:-1], body[-1]
    if checksum(header + payload) != received:
        raise ProtocolError("the ID card reader sent a frame with a bad checksum")
    return payload


def parse_response(payload: bytes) -> tuple[int, bytes]:
    if len(payload) < 3:
        raise ProtocolError(f"the ID card reader sent a {len(payload)}-byte answer, too short")
    return payload[2], payload[3:]


# --------------------------------------------------------------------------- card text


def _parse_date(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None  # "长期" (no expiry) and blanks
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def split_text(text_block: bytes) -> dict[str, str]:
    if len(text_block) != TEXT_SIZE:
        raise CardDataError(f"the ID card text is {len(text_block)} bytes, not {TEXT_SIZE}")
    fields, offset = {}, 0
    for name, size in TEXT_FIELDS:
        fields[name] = text_block[offset : offset + size].decode("utf-16-le").strip(" \x00")
        offset += size
    return fields


def parse_basic_info(data: bytes) -> CardData:
    """The answer to "read basic information" as a `CardData`."""
    if len(data) < 4:
        raise CardDataError("the ID card reader's answer holds no card data")
    text_size, photo_size = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
    if len(data) < 4 + text_size + photo_size:
        raise CardDataError("the ID card reader's answer is shorter than it announces")
    fields = split_text(data[4 : 4 + text_size])
    if not fields["id_number"] or not fields["name"]:
        raise CardDataError("the ID card holds no ID number or name")
    return CardData(
        source="idcard",
        id_number=fields["id_number"].upper(),
        name=fields["name"],
        sex=sex_name(fields["sex"]),
        ethnicity=ethnicity_name(fields["ethnicity"]),
        birth_date=_parse_date(fields["birth_date"]),
        address=fields["address"],
        authority=fields["authority"],
        valid_from=_parse_date(fields["valid_from"]),
        valid_to=_parse_date(fields["valid_to"]),
        photo_bytes=data[4 + text_size : 4 + text_size + photo_size],
    )


def build_text(values: dict[str, str]) -> bytes:
    """The 256-byte text block for a card (simulator and tests)."""
    out = b""
    for name, size in TEXT_FIELDS:
        raw = values.get(name, "")
        if name.startswith(("birth", "valid")):
            raw = raw.replace("-", "")  # fixtures write 1947-11-18, cards 19471118
        encoded = raw.encode("utf-16-le")
        if len(encoded) > size:
            raise ValueError(f"{name}: {len(encoded)} bytes, at most {size} fit")
        out += encoded + " ".encode("utf-16-le") * ((size - len(encoded)) // 2)
    return out


# --------------------------------------------------------------------------- reader


class SerialIdCardReader:
    """An ID card reader module on a serial port (USB-serial at 115200 baud is common)."""

    def __init__(self, port: str, baudrate: int = 115200, timeout: float = 2.0) -> None:
        import serial

        self.name = f"ID card reader on {port}"
        try:
            self._serial = serial.Serial(port, baudrate=baudrate, timeout=timeout)
        except serial.SerialException as exc:
            raise DeviceNotFoundError(f"cannot open the ID card reader on {port}: {exc}") from exc
        self._lock = threading.Lock()

    def command(self, command: bytes, data: bytes = b"") -> tuple[int, bytes]:
        """Sends one command; returns SW3 and the answer's data."""
        with self._lock:
            self._serial.reset_input_buffer()  # a late answer to an earlier command
            self._serial.write(encode_command(command, data))
            return parse_response(read_frame(self._serial))

    def card_present(self) -> bool:
        sw3, _ = self.command(FIND_CARD)
        if sw3 in (SW3_FOUND, SW3_OK):
            return True
        if sw3 == SW3_NO_CARD:
            return False
        raise CardError(f"find card: {SW3_MESSAGES.get(sw3, 'unexpected status')} ({sw3:02X})")

    def read(self, timeout: float | None = None) -> CardData:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.card_present():
            if deadline is not None and time.monotonic() >= deadline:
                raise NoCardError("no ID card was put on the reader")
            time.sleep(0.2)
        for command, action in ((SELECT_CARD, "select card"), (READ_BASIC, "read card")):
            sw3, data = self.command(command)
            if sw3 != SW3_OK:
                message = SW3_MESSAGES.get(sw3, "unexpected status")
                raise CardError(f"{action}: {message} (status {sw3:02X})")
        return parse_basic_info(data)

    def watch(self, callback: CardEventCallback) -> PollingCardWatcher:
        return PollingCardWatcher(self.name, self.card_present, callback)

    def close(self) -> None:
        self._serial.close()


# --------------------------------------------------------------------------- simulator

Fault = Literal["bad_checksum", "truncated", "silent"]


def photo_block(seed: str) -> bytes:
    """1024 bytes standing in for the card's encrypted photo (the real one starts "WL")."""
    stream = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(32))
    return (b"WL" + stream)[:PHOTO_SIZE]


@dataclass
class IdCardFixture:
    values: dict[str, str]
    photo: bytes = field(default=b"")

    @classmethod
    def load(cls, path: str | Path) -> IdCardFixture:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdCardFixture:
        values = {key: str(value) for key, value in data.items() if key != "source"}
        return cls(values, photo_block(values.get("id_number", "")))

    def basic_info(self) -> bytes:
        return (
            TEXT_SIZE.to_bytes(2, "big")
            + PHOTO_SIZE.to_bytes(2, "big")
            + build_text(self.values)
            + self.photo
        )


class IdCardReaderSimulator:
    """A reader module behind a pseudo-terminal: open `port` with `SerialIdCardReader`.

    Put a card on it with `insert()`, take it off with `remove()`, and make it misbehave
    with `fault` ("bad_checksum", "truncated", "silent") to rehearse broken cables.
    """

    def __init__(self, fixture: IdCardFixture | str | Path | None = None) -> None:
        chosen = fixture or DEFAULT_FIXTURE
        self.default_fixture = (
            chosen if isinstance(chosen, IdCardFixture) else IdCardFixture.load(chosen)
        )
        self.card: IdCardFixture | None = None
        self.fault: Fault | None = None
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: a serial line, not a terminal
        self.port = os.ttyname(self._slave)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="idcard-sim", daemon=True)
        self._thread.start()

    def insert(self, fixture: IdCardFixture | None = None) -> None:
        self.card = fixture or self.default_fixture

    def remove(self) -> None:
        self.card = None

    def answer(self, payload: bytes) -> bytes:
        command, card = payload[:2], self.card
        if command == FIND_CARD:
            return encode_response(SW3_FOUND, b"\x00" * 4) if card else encode_response(0x80)
        if command == SELECT_CARD:
            return encode_response(SW3_OK, b"\x00" * 8) if card else encode_response(0x81)
        if command == READ_BASIC:
            return encode_response(SW3_OK, card.basic_info()) if card else encode_response(0x41)
        return encode_response(0x21)

    def _apply_fault(self, frame: bytes) -> bytes:
        if self.fault == "bad_checksum":
            return frame[:-1] + bytes([frame[-1] ^ 0xFF])
        if self.fault == "truncated":
            return frame[: len(frame) // 2]
        if self.fault == "silent":
            return b""
        return frame

    def _serve(self) -> None:
        buffer = b""
        while not self._stopped.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                buffer += os.read(self._master, 4096)
            except OSError:
                return  # closed
            buffer = self._handle(buffer, lambda frame: os.write(self._master, frame))

    def _handle(self, buffer: bytes, send: Callable[[bytes], object]) -> bytes:
        """Answers every complete command in `buffer`; returns what is left over."""
        while True:
            start = buffer.find(PREAMBLE)
            if start < 0:
                return buffer[-(len(PREAMBLE) - 1) :]
            header = buffer[start + len(PREAMBLE) : start + len(PREAMBLE) + 2]
            if len(header) < 2:
                return buffer[start:]
            end = start + len(PREAMBLE) + 2 + int.from_bytes(header, "big")
            if len(buffer) < end:
                return buffer[start:]
            body = buffer[start + len(PREAMBLE) : end]
            if checksum(body[:-1]) != body[-1]:
                reply = encode_response(0x10)
            else:
                reply = self.answer(body[2:-1])
            reply = self._apply_fault(reply)
            for offset in range(0, len(reply), 512):  # a pty's buffer is small
                send(reply[offset : offset + 512])
            buffer = buffer[end:]

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class SimulatedIdCardReader(SerialIdCardReader):
    """A `SerialIdCardReader` wired to its own simulator: the whole serial path, no device."""

    def __init__(
        self, fixture: IdCardFixture | str | Path | None = None, *, inserted: bool = False
    ):
        self.simulator = IdCardReaderSimulator(fixture)
        super().__init__(self.simulator.port, timeout=2.0)
        self.name = "simulated ID card reader"
        if inserted:
            self.simulator.insert()

    def insert(self, fixture: IdCardFixture | None = None) -> None:
        self.simulator.insert(fixture)

    def remove(self) -> None:
        self.simulator.remove()

    def close(self) -> None:
        super().close()
        self.simulator.close()
