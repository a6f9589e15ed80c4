"""Receipts: the ESC/POS bytes a network printer receives, and the PNG / PDF previews."""

from __future__ import annotations

import io
import os
import select
import shutil
import subprocess
import threading
import time
import tty
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from hardware.errors import CoverOpenError, DeviceNotFoundError, PaperOutError
from hardware.printer import (
    CHINESE_MODE,
    EscPosPrinter,
    SimulatedPrinter,
    escpos_bytes,
    qr_command,
)
from hardware.receipt import Receipt, ReceiptLine, layout, render_pdf, render_png, text_width

from .conftest import GUARD, PrinterServer

QR = "https://nongbao.example/r/R20261127-000123"
RECEIPT = Receipt(
    title="生存认证回执",
    header="正定县社会保险事业管理中心",
    lines=[
        ReceiptLine("姓名", "张秀英"),
        ReceiptLine("身份证号", "130123********0026"),
        ReceiptLine("认证方式", "人脸识别（自助机）"),
        ReceiptLine("2026年12月养老金", amount=Decimal("153.00")),
        ReceiptLine("高龄补贴", amount=Decimal("1200.5")),
    ],
    printed_at=datetime(2026, 11, 27, 12, 0),
    device="KIOSK-0012",
    number="R20261127-000123",
    qr=QR,
    footer=["请妥善保管本回执"],
)


def gb(text: str) -> bytes:
    return text.encode("gb18030")


def test_a_network_printer_receives_chinese_mode_gb18030_text_and_a_native_qr(
    printer_server: PrinterServer,
) -> None:
    printer = EscPosPrinter.network("127.0.0.1", printer_server.port, width_mm=58)
    printer.print_receipt(RECEIPT)
    data = printer_server.wait_for_connections(1)

    # the status queries come first, then the job
    assert data.startswith(b"\x10\x04\x02\x10\x04\x04\x1b@\x1c&")
    assert CHINESE_MODE == b"\x1c\x26"
    assert gb("姓名") + b" " * 22 + gb("张秀英") + b"\n" in data
    assert gb("合计") + b" " * 18 + gb("1,353.50元") + b"\n" in data
    assert gb("生存认证回执") in data and b"\x1d!\x11" in data  # the title, double size
    store = b"\x1d(k" + (len(QR) + 3).to_bytes(2, "little") + b"1P0" + QR.encode()
    assert store in data and data.index(store) < data.index(b"\x1d(k\x03\x001Q0")
    assert data.endswith(b"\x1dV\x42\x00")
    assert b"?" not in data.replace(QR.encode(), b"")  # nothing replaced by "?"


def test_the_qr_command_follows_the_escpos_manual() -> None:
    assert qr_command("AB", module_size=5) == (
        b"\x1d(k\x04\x001A2\x00"  # model 2
        b"\x1d(k\x03\x001C\x05"  # module size 5
        b"\x1d(k\x03\x001E1"  # error correction M
        b"\x1d(k\x05\x001P0AB"  # store
        b"\x1d(k\x03\x001Q0"  # print
    )


def test_characters_beyond_the_printer_font_become_an_image_line() -> None:
    receipt = Receipt("回执", [ReceiptLine("姓名", "王堃"), ReceiptLine("电话", "0311-1234")])
    old_printer = escpos_bytes(receipt, 58, charset="gb2312")  # 堃 is GBK, not GB2312
    assert gb("王堃") not in old_printer
    raster = b"\x1dv0\x00" + (384 // 8).to_bytes(2, "little") + (30).to_bytes(2, "little")
    assert raster in old_printer
    assert gb("电话") in old_printer  # the other lines stay text
    assert gb("王堃") in escpos_bytes(receipt, 58, charset="gbk")


def test_a_printer_out_of_paper_prints_nothing(printer_server: PrinterServer) -> None:
    printer_server.paper_out = True
    printer = EscPosPrinter.network("127.0.0.1", printer_server.port)
    with pytest.raises(PaperOutError, match="out of paper"):
        printer.print_receipt(RECEIPT)
    assert printer_server.wait_for_connections(1) == b"\x10\x04\x02\x10\x04\x04"


def test_a_printer_with_its_cover_open_prints_nothing(printer_server: PrinterServer) -> None:
    printer_server.cover_open = True
    printer = EscPosPrinter.network("127.0.0.1", printer_server.port)
    status = printer.status()
    assert status is not None and status.cover_open
    with pytest.raises(CoverOpenError, match="cover is open"):
        printer.print_receipt(RECEIPT)
    assert CHINESE_MODE not in printer_server.wait_for_connections(2)


def test_an_unreachable_printer(printer_server: PrinterServer) -> None:
    port = printer_server.port
    printer_server.close()
    with pytest.raises(DeviceNotFoundError, match=f"cannot reach the printer 127.0.0.1:{port}"):
        EscPosPrinter.network("127.0.0.1", port, timeout=2).print_receipt(RECEIPT)


@given(
    st.text(st.characters(codec="gbk", categories=["L", "N", "P"]), max_size=40),
    st.text(st.characters(codec="gbk", categories=["L", "N"]), max_size=40),
    st.sampled_from([58, 80]),
)
def test_no_line_is_wider_than_the_paper(label: str, value: str, width_mm: int) -> None:
    plan = layout(Receipt("标题", [ReceiptLine(label, value)]), width_mm)
    for line in plan.body:
        assert text_width(line.text) * (2 if line.double else 1) <= plan.columns


def test_80_mm_paper_has_48_columns() -> None:
    plan = layout(RECEIPT, 80)
    assert plan.columns == 48
    assert plan.body[2].text == "-" * 48


@pytest.mark.parametrize(("width_mm", "pixels"), [(58, 384), (80, 576)])
def test_the_png_preview_is_printer_wide_and_its_qr_decodes(width_mm: int, pixels: int) -> None:
    png = render_png(RECEIPT, width_mm)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == pixels and image.height > 600
    grey = np.array(image.convert("L"))
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(grey)
    assert text == QR


def test_the_pdf_holds_the_chinese_text() -> None:
    pdf = render_pdf(RECEIPT)
    assert pdf.startswith(b"%PDF-")
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext (poppler-utils) is installed by make setup"
    text = subprocess.run(
        [pdftotext, "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    compact = "".join(text.split())
    assert "生存认证回执" in compact and "张秀英" in compact and "1,353.50元" in compact


def test_the_simulated_printer_keeps_jobs_and_previews(tmp_path: Path) -> None:
    printer = SimulatedPrinter(tmp_path, width_mm=80)
    printer.print_receipt(RECEIPT)
    assert (tmp_path / "receipt-0001.bin").read_bytes() == escpos_bytes(RECEIPT, 80)
    assert Image.open(tmp_path / "receipt-0001.png").width == 576
    printer.paper_out = True
    with pytest.raises(PaperOutError):
        printer.print_receipt(RECEIPT)
    assert len(printer.jobs) == 1


class SerialPrinter:
    """A printer on the far end of a pseudo-terminal: keeps bytes, answers DLE EOT."""

    def __init__(self, paper_out: bool = False) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.paper_out = paper_out
        self.received = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            chunk = os.read(self.master, 65536)
            self.received += chunk
            pending += chunk
            while (start := pending.find(b"\x10\x04")) >= 0 and len(pending) > start + 2:
                n = pending[start + 2]
                os.write(self.master, bytes([0x72 if n == 4 and self.paper_out else 0x12]))
                pending = pending[start + 3 :]
            pending = pending[-2:]

    def wait_for(self, marker: bytes) -> bytes:
        deadline = time.monotonic() + GUARD
        while marker not in self.received:
            assert time.monotonic() < deadline, f"{marker!r} never arrived"
            time.sleep(0.02)
        return bytes(self.received)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)


def test_a_serial_printer_is_asked_for_its_status_then_prints() -> None:
    device = SerialPrinter()
    try:
        EscPosPrinter.serial(device.port, 9600).print_receipt(RECEIPT)
        data = device.wait_for(b"\x1dV\x42\x00")
        assert data.startswith(b"\x10\x04\x02\x10\x04\x04\x1b@\x1c&")
        assert gb("张秀英") in data
    finally:
        device.close()


def test_a_serial_printer_out_of_paper() -> None:
    device = SerialPrinter(paper_out=True)
    try:
        with pytest.raises(PaperOutError):
            EscPosPrinter.serial(device.port, 9600).print_receipt(RECEIPT)
    finally:
        device.close()
