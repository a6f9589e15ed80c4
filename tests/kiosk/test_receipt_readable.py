"""A receipt an old person can read (issue 16): 6 mm body letters, the centre's name and
phone from the configuration, the title unbroken on 58 and 80 mm paper, dates without stray
spaces in the PNG and the PDF, and a QR code holding the county's verification URL."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from hardware.printer import TALL_ON, escpos_bytes
from hardware.receipt import DOTS, Receipt, layout, render_pdf, render_png
from kiosk_app import flow as f
from kiosk_app.config import KioskConfig
from tests.kiosk.conftest import PASSED, FakeClock, only, to_submit

DOTS_PER_MM = 203 / 25.4
RECEIPT = Receipt(
    title="城乡居民养老保险 生存认证凭条",
    header="城关镇社会保险服务中心",
    lines=["姓名：王*兰", "有效期至：2027-11-30"],
    printed_at=datetime(2026, 11, 27, 10, 5),
    number="R-1",
    qr="https://nongbao.example.gov.cn/r/abc",
    footer=["咨询电话：0816-1234567"],
    tall_body=True,
)


@pytest.mark.parametrize("width", [58, 80])
def test_the_title_is_never_cut_inside_a_word(width: int) -> None:
    titles = [line.text.strip() for line in layout(RECEIPT, width).body if line.double]
    assert titles == ["城乡居民养老保险", "生存认证凭条"]


@pytest.mark.parametrize("width", [58, 80])
def test_body_letters_are_at_least_4_mm_tall(width: int) -> None:
    body = [line for line in layout(RECEIPT, width).body if line.tall]
    assert [line.text.strip() for line in body] == ["姓名：王*兰", "有效期至：2027-11-30"]
    with Image.open(io.BytesIO(render_png(RECEIPT, width))) as image:
        ink = np.asarray(image.convert("L")) < 128
    assert ink.shape[1] == DOTS[width]
    rows = np.flatnonzero(ink.any(axis=1))
    # the tallest run of inked rows (one printed line) is the body's double-height line
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    tallest = max(len(r) for r in runs)
    assert tallest / DOTS_PER_MM >= 4.0
    assert TALL_ON in escpos_bytes(RECEIPT, width, "gbk")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_pdf_reads_dates_without_stray_spaces() -> None:
    done = subprocess.run(
        ["pdftotext", "-", "-"], input=render_pdf(RECEIPT), capture_output=True, check=True
    )
    text = done.stdout.decode("utf-8")
    assert "2027-11-30" in text and "2026-11-27" in text and "10:05" in text
    assert "生存认证凭条" in text and "城关镇社会保险服务中心" in text


def test_the_kiosk_receipt_names_the_centre_and_holds_the_verification_url(
    clock: FakeClock,
) -> None:
    config = KioskConfig(
        centre_name="城关镇社会保险服务中心",
        centre_phone="0816-1234567",
        county_host="nongbao.example.gov.cn",
    )
    flow = f.KioskFlow(config, clock=clock)
    submit = to_submit(flow)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    content = job.content
    assert content.extra["header"] == "城关镇社会保险服务中心"
    assert content.extra["footer"] == "咨询电话：0816-1234567"
    assert content.qr_code == "https://nongbao.example.gov.cn/r/NB%3AR1"
