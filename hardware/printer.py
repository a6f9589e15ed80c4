"""Receipt printers: ESC/POS over USB, serial, network (port 9100) or a file, and a simulator.

Chinese text is sent the way Chinese thermal printers expect it: FS & switches the
printer to its Chinese mode, then the text goes as GB 18030 bytes. We do not use
python-escpos's `text()`, which never sends FS & and replaces characters outside its code
pages with "?"; python-escpos only provides the connections. A line holding a character
the printer's font lacks (rare name characters beyond GBK) is printed as a raster image.
The QR code uses the printer's own QR command (GS ( k), which prints sharper than an image.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from PIL import Image, ImageOps

from hardware.errors import CoverOpenError, DeviceNotFoundError, PaperOutError, PrinterError
from hardware.receipt import Line, Receipt, ReceiptLine, draw_line, layout, render_png

Charset = Literal["gb2312", "gbk", "gb18030"]

ESC, GS, FS, DLE, EOT = b"\x1b", b"\x1d", b"\x1c", b"\x10", b"\x04"
INITIALIZE = ESC + b"@"
CHINESE_MODE = FS + b"&"
DOUBLE_ON = GS + b"!\x11" + FS + b"!\x0c"  # GS ! for ASCII, FS ! for Chinese characters
DOUBLE_OFF = GS + b"!\x00" + FS + b"!\x00"
TALL_ON = GS + b"!\x01" + FS + b"!\x08"  # double height only (the body of a large receipt)
BOLD_ON, BOLD_OFF = ESC + b"E\x01", ESC + b"E\x00"
ALIGN_LEFT, ALIGN_CENTER = ESC + b"a\x00", ESC + b"a\x01"
FEED_AND_CUT = ESC + b"d\x04" + GS + b"V\x42\x00"  # feed 4 lines, partial cut


def line_is_printable(text: str, charset: Charset) -> bool:
    """Whether the printer's own font has every character of the line."""
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def raster(image: Image.Image) -> bytes:
    """GS v 0: a 1-bit image, one bit per dot, 1 = black, rows padded to whole bytes."""
    bits = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 96 else 0).convert("1")
    width_bytes = (bits.width + 7) // 8
    header = GS + b"v0\x00" + width_bytes.to_bytes(2, "little") + bits.height.to_bytes(2, "little")
    return header + bits.tobytes()


def qr_command(payload: str, module_size: int = 6) -> bytes:
    """GS ( k: model 2, module size, error correction M, store the data, print."""
    data = payload.encode("utf-8")
    if len(data) > 7000:
        raise PrinterError("the QR payload is too long to print")

    def function(body: bytes) -> bytes:
        return GS + b"(k" + len(body).to_bytes(2, "little") + body

    return (
        function(b"1A2\x00")
        + function(b"1C" + bytes([module_size]))
        + function(b"1E1")
        + function(b"1P0" + data)
        + function(b"1Q0")
    )


def encode_line(line: Line, columns: int, charset: Charset) -> bytes:
    if not line_is_printable(line.text, charset):
        return ALIGN_LEFT + raster(draw_line(line, columns))
    body = line.text.rstrip().encode("gb18030") + b"\n"
    if line.double:
        body = DOUBLE_ON + body + DOUBLE_OFF
    elif line.tall:
        body = TALL_ON + body + DOUBLE_OFF
    if line.bold:
        body = BOLD_ON + body + BOLD_OFF
    return body


def escpos_bytes(receipt: Receipt, width_mm: int = 58, charset: Charset = "gbk") -> bytes:
    """The whole print job for one receipt."""
    plan = layout(receipt, width_mm)
    out = [INITIALIZE, CHINESE_MODE, ALIGN_LEFT]
    out += [encode_line(line, plan.columns, charset) for line in plan.body]
    if plan.qr:
        out += [b"\n", ALIGN_CENTER, qr_command(plan.qr), b"\n", ALIGN_LEFT]
    out += [encode_line(line, plan.columns, charset) for line in plan.footer]
    out.append(FEED_AND_CUT)
    return b"".join(out)


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class PrinterStatus:
    """What DLE EOT 2 (offline cause) and DLE EOT 4 (paper sensor) report."""

    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    error: bool = False

    @classmethod
    def from_bytes(cls, offline_cause: int | None, paper: int | None) -> PrinterStatus:
        cause, roll = offline_cause or 0, paper or 0
        return cls(
            cover_open=bool(cause & 0x04),
            paper_out=bool(cause & 0x20) or bool(roll & 0x60),
            paper_near_end=bool(roll & 0x0C),
            error=bool(cause & 0x40),
        )

    def raise_for_status(self) -> None:
        if self.cover_open:
            raise CoverOpenError("the printer's cover is open; close it, then print again")
        if self.paper_out:
            raise PaperOutError("the printer is out of paper; load a new roll, then print again")


def _status_byte(answer: bytes) -> int | None:
    # every DLE EOT answer has bits 1 and 4 set and bits 0 and 7 clear
    return answer[0] if answer and answer[0] & 0x93 == 0x12 else None


# --------------------------------------------------------------------------- printers


class Printer(Protocol):
    name: str
    width_mm: int

    def status(self) -> PrinterStatus | None: ...

    def print_receipt(self, receipt: Receipt) -> None: ...

    def close(self) -> None: ...


class EscPosPrinter:
    """A printer behind one of python-escpos's connections (Network, Usb, Serial, File).

    The connection is opened for each receipt: network printers drop idle sockets and a USB
    printer may have been replugged since the last receipt.
    """

    def __init__(
        self,
        connection: Any,
        *,
        name: str,
        width_mm: int = 58,
        charset: Charset = "gbk",
        check_status: bool = True,
        status_timeout: float = 2.0,
    ) -> None:
        self.connection = connection
        self.name = name
        self.width_mm = width_mm
        self.charset = charset
        self.check_status = check_status
        self.status_timeout = status_timeout
        self._lock = threading.Lock()

    @classmethod
    def network(
        cls, host: str, port: int = 9100, timeout: float = 10.0, **kw: Any
    ) -> EscPosPrinter:
        from escpos.printer import Network

        return cls(Network(host, port=port, timeout=timeout), name=f"{host}:{port}", **kw)

    @classmethod
    def usb(cls, vendor_id: int, product_id: int, **kw: Any) -> EscPosPrinter:
        from escpos.printer import Usb

        name = f"usb {vendor_id:04x}:{product_id:04x}"
        return cls(Usb(vendor_id, product_id, timeout=5000), name=name, **kw)

    @classmethod
    def serial(cls, device: str, baudrate: int = 9600, **kw: Any) -> EscPosPrinter:
        from escpos.printer import Serial

        return cls(Serial(device, baudrate=baudrate, timeout=2), name=device, **kw)

    @classmethod
    def file(cls, path: str | Path, **kw: Any) -> EscPosPrinter:
        """/dev/usb/lp0 (the kernel's usblp driver) or a plain file; no status is read back."""
        from escpos.printer import File

        kw.setdefault("check_status", False)
        return cls(File(str(path)), name=str(path), **kw)

    @contextmanager
    def _connected(self) -> Iterator[Any]:
        from escpos.exceptions import Error as EscposError

        try:
            self.connection.open()
        except (EscposError, OSError) as exc:
            message = str(exc).replace("\n", " ")
            raise DeviceNotFoundError(f"cannot reach the printer {self.name}: {message}") from exc
        try:
            yield self.connection
        finally:
            self.connection.close()

    def _send(self, data: bytes) -> None:
        try:
            self.connection._raw(data)
        except OSError as exc:
            raise PrinterError(f"the printer {self.name} stopped taking data: {exc}") from exc

    def _query(self, n: int) -> int | None:
        """DLE EOT n; None when the printer does not answer (many cheap ones do not)."""
        self._send(DLE + EOT + bytes([n]))
        try:
            return _status_byte(self._read_answer())
        except (OSError, NotImplementedError, AttributeError):
            return None
        except Exception as exc:  # pyusb's USBTimeoutError and friends
            if "timeout" in type(exc).__name__.lower():
                return None
            raise

    def _read_answer(self) -> bytes:
        """One status byte, waiting `status_timeout` at most (not the job's timeout).

        python-escpos's `_read()` asks for 16 bytes, which on a serial line means waiting
        out the whole timeout for a one-byte answer.
        """
        device: Any = getattr(self.connection, "device", None)  # escpos is untyped
        if hasattr(device, "recv"):  # network
            previous = device.gettimeout()
            device.settimeout(self.status_timeout)
            try:
                return device.recv(1)
            finally:
                device.settimeout(previous)
        if hasattr(device, "in_waiting"):  # pyserial
            previous = device.timeout
            device.timeout = self.status_timeout
            try:
                return device.read(1)
            finally:
                device.timeout = previous
        return self.connection._read()  # USB: one packet, as long as the answer

    def _status_on_open_connection(self) -> PrinterStatus | None:
        offline_cause, paper = self._query(2), self._query(4)
        if offline_cause is None and paper is None:
            return None
        return PrinterStatus.from_bytes(offline_cause, paper)

    def status(self) -> PrinterStatus | None:
        with self._lock, self._connected():
            return self._status_on_open_connection()

    def print_receipt(self, receipt: Receipt) -> None:
        data = escpos_bytes(receipt, self.width_mm, self.charset)
        with self._lock, self._connected():
            if self.check_status:
                status = self._status_on_open_connection()
                if status is not None:
                    status.raise_for_status()
            self._send(data)

    def close(self) -> None:
        pass  # connections are closed after every receipt


class SimulatedPrinter:
    """Takes receipts like a printer and keeps them: the ESC/POS job and a PNG preview.

    Set `paper_out` or `cover_open` to rehearse what the kiosk shows when that happens.
    """

    def __init__(
        self, out_dir: str | Path | None = None, width_mm: int = 58, charset: Charset = "gbk"
    ) -> None:
        self.name = f"simulated printer{f' -> {out_dir}' if out_dir else ''}"
        self.out_dir = Path(out_dir) if out_dir else None
        self.width_mm, self.charset = width_mm, charset
        self.paper_out = self.cover_open = False
        self.jobs: list[bytes] = []
        self.previews: list[bytes] = []

    def status(self) -> PrinterStatus:
        return PrinterStatus(cover_open=self.cover_open, paper_out=self.paper_out)

    def print_receipt(self, receipt: Receipt) -> None:
        self.status().raise_for_status()
        self.jobs.append(escpos_bytes(receipt, self.width_mm, self.charset))
        self.previews.append(render_png(receipt, self.width_mm))
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            stem = self.out_dir / f"receipt-{len(self.jobs):04d}"
            stem.with_suffix(".bin").write_bytes(self.jobs[-1])
            stem.with_suffix(".png").write_bytes(self.previews[-1])

    def close(self) -> None:
        pass


__all__ = [
    "EscPosPrinter",
    "Printer",
    "PrinterStatus",
    "Receipt",
    "ReceiptLine",
    "SimulatedPrinter",
    "escpos_bytes",
    "qr_command",
]
