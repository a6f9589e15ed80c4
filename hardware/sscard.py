"""Social security card (社会保障卡) readers: PC/SC with pyscard, and a simulator.

The card layout we read is documented in `hardware.ssc_layout`. Reading is one function,
`read_social_security_card(transport)`, over any `ApduTransport`, so the PC/SC reader, the
simulator and the tests all go through the same APDUs and the same status-word handling.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Protocol

from hardware.cards import (
    CardData,
    CardEvent,
    CardEventCallback,
    ethnicity_name,
    sex_name,
)
from hardware.errors import (
    CardDataError,
    CardError,
    CardFileNotFoundError,
    CardRemovedError,
    CardSecurityError,
    DeviceError,
    DeviceNotFoundError,
    NoCardError,
)
from hardware.ssc_applet import SocialSecurityCardApplet, SscFixture
from hardware.ssc_layout import (
    EF05,
    EF06,
    FILE_ELEMENTS,
    FILE_NAMES,
    SSSE_AID,
    parse_bcd_date,
    parse_record,
)

DEFAULT_FIXTURE = Path(__file__).with_name("fixtures") / "ssc_demo.json"

# What each status word means for the person at the kiosk, not just in ISO 7816 terms.
STATUS_MESSAGES: dict[int, str] = {
    0x6281: "the card reports corrupted data",
    0x6283: "the card's social security application is blocked (reported lost or cancelled?)",
    0x6700: "the card rejected the command length",
    0x6982: "the card requires terminal authentication (PSAM) before this file can be read",
    0x6983: "the card's authentication is blocked",
    0x6985: "the card refused: conditions of use not satisfied",
    0x6A81: "the card does not support this function",
    0x6A82: "file not found on the card",
    0x6A83: "record not found on the card",
    0x6A86: "the card rejected the parameters P1/P2",
    0x6D00: "the card does not support this instruction; is it a social security card?",
    0x6E00: "the card does not support this command class; is it a social security card?",
}


class ApduTransport(Protocol):
    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        """Sends one command APDU; returns the response data and the status word."""
        ...


class _RecordNotFound(CardError):
    pass


def status_error(sw: int, action: str) -> CardError:
    """The exception for a status word other than 9000."""
    text = STATUS_MESSAGES.get(sw, "the card answered an unexpected status")
    message = f"{action}: {text} (status {sw:04X})"
    if sw == 0x6A82:
        return CardFileNotFoundError(message)
    if sw == 0x6A83:
        return _RecordNotFound(message)
    if sw in (0x6982, 0x6983):
        return CardSecurityError(message)
    return CardError(message)


def exchange(transport: ApduTransport, apdu: bytes, action: str) -> bytes:
    """Sends an APDU, following 61xx (more data) and 6Cxx (wrong Le) as ISO 7816-4 says."""
    data, sw = transport.transmit(apdu)
    if sw >> 8 == 0x6C:  # resend with the length the card asked for
        data, sw = transport.transmit(apdu[:4] + bytes([sw & 0xFF]))
    while sw >> 8 == 0x61:  # T=0 cards hand out the response in pieces
        more, sw = transport.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
        data += more
    if sw != 0x9000:
        raise status_error(sw, action)
    return data


def spec_major(version: str | None) -> int:
    """2 for "2.00", 0 when the card does not say (first cards) or says nonsense."""
    head = (version or "").strip().split(".")[0]
    return int(head) if head.isdigit() else 0


def read_records(transport: ApduTransport, file_id: int, version: str | None) -> dict[str, str]:
    """Selects a file and reads the elements of `hardware.ssc_layout` from it."""
    file_name = FILE_NAMES[file_id]
    exchange(transport, b"\x00\xa4\x02\x00\x02" + file_id.to_bytes(2, "big"), f"select {file_name}")
    values: dict[str, str] = {}
    for element in FILE_ELEMENTS[file_id]:
        if element.name == "name_extension" and spec_major(version) < 3:
            continue  # only third-generation (3.00) and later cards carry it
        try:
            record = exchange(
                transport, bytes([0x00, 0xB2, element.tag, 0x04, 0x00]), f"read {element.name}"
            )
        except _RecordNotFound as exc:
            if element.required:
                raise CardDataError(f"{file_name} lacks {element.name}: {exc}") from exc
            continue
        try:
            values[element.name] = parse_record(element, record)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CardDataError(f"{file_name}, {element.name}: {exc}") from exc
    return values


def read_social_security_card(transport: ApduTransport) -> CardData:
    """Reads holder and card data from a card already powered and connected."""
    select = b"\x00\xa4\x04\x00" + bytes([len(SSSE_AID)]) + SSSE_AID
    try:
        exchange(transport, select, "select SSSE")
    except CardFileNotFoundError as exc:
        raise CardFileNotFoundError(
            f"the card has no social security application (SSSE); is it a social security card? ({exc})"
        ) from exc
    card = read_records(transport, EF05, None)
    holder = read_records(transport, EF06, card["spec_version"])
    return card_data_from_values(card | holder)


def card_data_from_values(values: dict[str, str]) -> CardData:
    name = values["name"] + values.get("name_extension", "")
    if not values["id_number"] or not name:
        raise CardDataError("the card holds no ID number or name (a blank card?)")
    return CardData(
        source="ssc",
        id_number=values["id_number"].upper(),
        name=name,
        sex=sex_name(values["sex"]),
        ethnicity=ethnicity_name(values["ethnicity"]) if values.get("ethnicity") else None,
        birth_date=parse_bcd_date(values["birth_date"]),
        card_number=values["card_number"],
        issued_on=parse_bcd_date(values["issued_on"]),
        expires_on=parse_bcd_date(values["expires_on"]),
        spec_version=values["spec_version"],
    )


# --------------------------------------------------------------------------- PC/SC


def _scard() -> Any:
    try:
        from smartcard import scard
    except ImportError as exc:  # pyscard needs libpcsclite at import time
        raise DeviceNotFoundError(f"PC/SC is not available here ({exc}); install pyscard") from exc
    return scard


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF  # pyscard may hand negative values back on some platforms


class _Pcsc:
    """The few PC/SC calls we need, with PC/SC error codes turned into our exceptions."""

    # codes meaning "the card is gone, or went silent, while we talked to it"
    CARD_GONE = frozenset({0x80100069, 0x8010000C, 0x80100068, 0x80100067, 0x80100066, 0x80100016})
    NO_SERVICE = frozenset({0x8010001D, 0x8010001E})
    READER_GONE = frozenset({0x80100017, 0x80100009, 0x8010002E})

    def __init__(self) -> None:
        self.scard = _scard()
        self.context: int | None = None

    def establish(self) -> int:
        if self.context is None:
            hresult, context = self.scard.SCardEstablishContext(self.scard.SCARD_SCOPE_USER)
            self.check(hresult, "connect to the PC/SC service")
            self.context = context
        return self.context

    def release(self) -> None:
        if self.context is not None:
            self.scard.SCardReleaseContext(self.context)
            self.context = None

    def error(self, hresult: int, action: str) -> DeviceError:
        code = _code(hresult)
        text = self.scard.SCardGetErrorMessage(hresult)
        if code in self.NO_SERVICE:
            self.context = None  # pcscd restarted: the next call establishes a new context
            return DeviceNotFoundError(
                f"{action}: the PC/SC service (pcscd) is not running; start it "
                "(`systemctl start pcscd`, or `pcscd`)"
            )
        if code in self.READER_GONE:
            return DeviceNotFoundError(f"{action}: no card reader is connected ({text.strip()})")
        if code in self.CARD_GONE:
            return CardRemovedError(
                f"{action}: the card was removed or lost contact during the reading; "
                "keep it in the reader until the reading finishes"
            )
        return DeviceError(f"{action}: PC/SC error {code:08X} ({text.strip()})")

    def check(self, hresult: int, action: str) -> None:
        if hresult != 0:
            raise self.error(hresult, action)

    def readers(self) -> list[str]:
        hresult, names = self.scard.SCardListReaders(self.establish(), [])
        if _code(hresult) == 0x8010002E:  # SCARD_E_NO_READERS_AVAILABLE
            return []
        self.check(hresult, "list card readers")
        return list(names)

    def states(self, readers: list[str], timeout_ms: int, known: dict[str, int]) -> dict[str, int]:
        """Blocks until a reader's state differs from `known` (or the timeout); new states."""
        query = [(name, known.get(name, self.scard.SCARD_STATE_UNAWARE)) for name in readers]
        hresult, answer = self.scard.SCardGetStatusChange(self.establish(), timeout_ms, query)
        if _code(hresult) == 0x8010000A:  # SCARD_E_TIMEOUT: nothing changed
            return dict(known)
        self.check(hresult, "watch card readers")
        # SCARD_STATE_CHANGED must not be echoed back, or the next call returns at once
        return {name: state & ~self.scard.SCARD_STATE_CHANGED for name, state, _atr in answer}

    def present(self, state: int) -> bool:
        mute = self.scard.SCARD_STATE_MUTE
        return bool(state & self.scard.SCARD_STATE_PRESENT) and not state & mute


class _PcscTransport:
    def __init__(self, pcsc: _Pcsc, card: int, protocol: int) -> None:
        self.pcsc, self.card, self.protocol = pcsc, card, protocol

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        hresult, response = self.pcsc.scard.SCardTransmit(self.card, self.protocol, list(apdu))
        self.pcsc.check(hresult, "read the card")
        if len(response) < 2:  # what a reader hands back when the card went mid-command
            raise CardRemovedError(
                "read the card: the card stopped answering during the reading (removed?); "
                "keep it in the reader until the reading finishes"
            )
        return bytes(response[:-2]), response[-2] << 8 | response[-1]


class PcscSocialSecurityCardReader:
    """A PC/SC (USB CCID) reader holding social security cards.

    `reader` picks a reader whose name contains it; without it, the first reader with a
    card in it is used (counters often have a contact and a contactless reader).
    """

    def __init__(self, reader: str | None = None) -> None:
        self.reader_filter = reader
        self.name = f"PC/SC reader {reader!r}" if reader else "PC/SC reader"
        self._pcsc = _Pcsc()
        self._lock = threading.Lock()

    @staticmethod
    def list_readers() -> list[str]:
        pcsc = _Pcsc()
        try:
            return pcsc.readers()
        finally:
            pcsc.release()

    def _readers(self) -> list[str]:
        names = [n for n in self._pcsc.readers() if (self.reader_filter or "") in n]
        if not names:
            wanted = f" matching {self.reader_filter!r}" if self.reader_filter else ""
            raise DeviceNotFoundError(f"no card reader{wanted} is connected")
        return names

    def card_present(self) -> bool:
        with self._lock:
            states = self._pcsc.states(self._readers(), 0, {})
        return any(self._pcsc.present(state) for state in states.values())

    def wait_for_card(self, timeout: float | None = None) -> str:
        """The name of a reader with a card in it, once there is one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        readers = self._readers()
        known: dict[str, int] = {}
        while True:
            left = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            known = self._pcsc.states(readers, int(left * 1000) if known else 0, known)
            for name, state in known.items():
                if self._pcsc.present(state):
                    return name
            if deadline is not None and time.monotonic() >= deadline:
                raise NoCardError("no card was put in the reader")

    def read(self, timeout: float | None = None) -> CardData:
        with self._lock:
            reader = self.wait_for_card(timeout)
            scard = self._pcsc.scard
            hresult, card, protocol = scard.SCardConnect(
                self._pcsc.establish(),
                reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            self._pcsc.check(hresult, "connect to the card")
            try:
                # a transaction keeps other PC/SC clients from selecting files mid-read
                self._pcsc.check(scard.SCardBeginTransaction(card), "reserve the card")
                try:
                    return read_social_security_card(_PcscTransport(self._pcsc, card, protocol))
                finally:
                    scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
            finally:
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    def watch(self, callback: CardEventCallback) -> PcscCardWatcher:
        return PcscCardWatcher(callback, self.reader_filter)

    def close(self) -> None:
        with self._lock:
            self._pcsc.release()


class PcscCardWatcher:
    """Reports card inserts and removals on every PC/SC reader, from its own thread.

    It uses its own PC/SC context (a context must not block in two threads) and survives
    pcscd restarts and readers being unplugged by re-listing readers.
    """

    def __init__(self, callback: CardEventCallback, reader_filter: str | None = None) -> None:
        self._callback = callback
        self._filter = reader_filter or ""
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pcsc-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pcsc = _Pcsc()
        present: dict[str, bool] = {}
        known: dict[str, int] = {}
        while not self._stopped.is_set():
            try:
                readers = [n for n in pcsc.readers() if self._filter in n]
                if not readers:
                    self._stopped.wait(1.0)
                    continue
                known = pcsc.states(readers, 500, {n: known[n] for n in readers if n in known})
            except DeviceError:
                pcsc.release()
                known = {}
                self._stopped.wait(1.0)
                continue
            for name in [n for n, there in present.items() if there and n not in readers]:
                present[name] = False  # the reader was unplugged with the card in it
                self._callback(CardEvent("removed", name))
            for name, state in known.items():
                now = pcsc.present(state)
                if now != present.get(name, False):
                    present[name] = now
                    self._callback(CardEvent("inserted" if now else "removed", name))
        pcsc.release()

    def stop(self) -> None:
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)


# --------------------------------------------------------------------------- simulator


class _SimulatedTransport:
    def __init__(
        self, reader: SimulatedSocialSecurityCardReader, applet: SocialSecurityCardApplet
    ) -> None:
        self.reader, self.applet, self.count = reader, applet, 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.count += 1
        limit = self.applet.fixture.remove_after_apdus
        if limit is not None and self.count > limit:
            self.reader.remove()  # the fixture says the card leaves here
        if self.reader.applet is not self.applet:
            raise CardRemovedError(
                "read the card: the card was removed or lost contact during the reading; "
                "keep it in the reader until the reading finishes"
            )
        response = self.applet.process(apdu)
        return response[:-2], int.from_bytes(response[-2:], "big")


class SimulatedSocialSecurityCardReader:
    """A reader with a virtual card you insert and remove from code (demos, tests, training).

    It runs the same APDUs through the same card model as the virtual card on the PC/SC
    stack, so fixtures behave identically in both.
    """

    def __init__(self, fixture: SscFixture | str | Path | None = None, *, inserted: bool = False):
        self.name = "simulated social security card reader"
        self.default_fixture = self._fixture(fixture or DEFAULT_FIXTURE)
        self.applet: SocialSecurityCardApplet | None = None
        self._changed = threading.Condition()
        self._listeners: list[CardEventCallback] = []
        if inserted:
            self.insert()

    @staticmethod
    def _fixture(fixture: SscFixture | str | Path) -> SscFixture:
        return fixture if isinstance(fixture, SscFixture) else SscFixture.load(fixture)

    def insert(self, fixture: SscFixture | str | Path | None = None) -> None:
        chosen = self._fixture(fixture) if fixture is not None else self.default_fixture
        with self._changed:
            self.applet = SocialSecurityCardApplet(chosen)
            self._changed.notify_all()
        self._emit(CardEvent("inserted", self.name))

    def remove(self) -> None:
        with self._changed:
            had_card, self.applet = self.applet is not None, None
            self._changed.notify_all()
        if had_card:
            self._emit(CardEvent("removed", self.name))

    def _emit(self, event: CardEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def card_present(self) -> bool:
        return self.applet is not None

    def read(self, timeout: float | None = None) -> CardData:
        with self._changed:
            if not self._changed.wait_for(lambda: self.applet is not None, timeout):
                raise NoCardError("no card was put in the reader")
            applet = self.applet
        assert applet is not None
        applet.reset()
        return read_social_security_card(_SimulatedTransport(self, applet))

    def watch(self, callback: CardEventCallback) -> _ListenerHandle:
        self._listeners.append(callback)
        if self.applet is not None:
            callback(CardEvent("inserted", self.name))
        return _ListenerHandle(self._listeners, callback)

    def close(self) -> None:
        self._listeners.clear()


class _ListenerHandle:
    def __init__(self, listeners: list[CardEventCallback], callback: CardEventCallback) -> None:
        self._listeners, self._callback = listeners, callback

    def stop(self) -> None:
        if self._callback in self._listeners:
            self._listeners.remove(self._callback)


__all__ = [
    "DEFAULT_FIXTURE",
    "ApduTransport",
    "PcscCardWatcher",
    "PcscSocialSecurityCardReader",
    "SimulatedSocialSecurityCardReader",
    "read_social_security_card",
]
