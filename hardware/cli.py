"""`nongbao devices`: what a technician runs first when installing a kiosk."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import click

from hardware.cards import CardData
from hardware.config import DeviceConfig
from hardware.errors import DeviceError
from hardware.factory import (
    open_camera,
    open_card_reader,
    open_id_card_reader,
    open_printer,
    open_scanner,
)
from hardware.receipt import Receipt, ReceiptLine
from hardware.scanner import KeyboardWedgeScanner

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="device configuration (TOML); default: $NONGBAO_DEVICE_CONFIG, then the environment",
)
SIMULATE_OPTION = click.option("--simulate", is_flag=True, help="use the simulators")
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="print JSON")


def _config(config_path: Path | None, simulate: bool) -> DeviceConfig:
    try:
        return DeviceConfig.load(config_path, simulate=simulate)
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from None


def _run(action: Callable[[], Any]) -> Any:
    """Runs a device action; device errors become a one-line message and exit status 1."""
    try:
        return action()
    except DeviceError as exc:
        raise click.ClickException(str(exc).replace("\n", " ")) from None


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for line in lines:
            click.echo(line)


@click.group(help="List, test and use the devices attached to this kiosk or tablet.")
def devices() -> None:
    pass


# --------------------------------------------------------------------------- list


def _probe(name: str, check: Callable[[], str]) -> dict[str, str]:
    try:
        return {"device": name, "state": "ok", "detail": check()}
    except DeviceError as exc:
        return {"device": name, "state": "error", "detail": str(exc)}
    except Exception as exc:  # a probe must never hide the other devices' results
        return {"device": name, "state": "error", "detail": f"{type(exc).__name__}: {exc}"}


def _check_camera(config: DeviceConfig) -> str:
    camera = open_camera(config)
    if camera is None:
        return "not configured"
    try:
        frame = camera.next_frame(timeout=5.0)
        return f"{config.camera.kind} {camera.name}: {frame.width}x{frame.height}"
    finally:
        camera.close()


def _check_card_reader(config: DeviceConfig) -> str:
    reader = open_card_reader(config)
    if reader is None:
        return "not configured"
    try:
        card = "card in reader" if reader.card_present() else "no card"
        return f"{reader.name}: {card}"
    finally:
        reader.close()


def _check_id_reader(config: DeviceConfig) -> str:
    reader = open_id_card_reader(config)
    if reader is None:
        return "not configured"
    try:
        card = "card on reader" if reader.card_present() else "no card"
        return f"{reader.name}: answers, {card}"
    finally:
        reader.close()


def _check_scanner(config: DeviceConfig) -> str:
    kind = config.scanner.kind
    if kind == "keyboard":
        return "keyboard wedge: scans arrive as typed lines"
    if kind == "camera":
        return "QR codes through the camera"
    if kind == "none":
        return "not configured"
    scanner = open_scanner(config)
    assert scanner is not None
    scanner.close()
    return f"{scanner.name}: port opens"


def _check_printer(config: DeviceConfig) -> str:
    printer = open_printer(config)
    if printer is None:
        return "not configured"
    status = printer.status()
    if status is None:
        return f"{printer.name}: reachable, reports no status"
    problems = [name for name, bad in vars(status).items() if bad]
    return f"{printer.name}: {', '.join(problems) if problems else 'ready'}"


def _discovered() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"pcsc_readers": [], "serial_ports": [], "video_devices": []}
    try:
        from hardware.sscard import PcscSocialSecurityCardReader

        found["pcsc_readers"] = PcscSocialSecurityCardReader.list_readers()
    except DeviceError as exc:
        found["pcsc_readers"] = [f"({exc})"]
    from serial.tools import list_ports

    found["serial_ports"] = [f"{p.device} {p.description}" for p in list_ports.comports()]
    found["video_devices"] = sorted(str(p) for p in Path("/dev").glob("video*"))
    return found


@devices.command("list")
@CONFIG_OPTION
@SIMULATE_OPTION
@JSON_OPTION
def list_devices(config_path: Path | None, simulate: bool, as_json: bool) -> None:
    """Check every configured device and show what is plugged in."""
    config = _config(config_path, simulate)
    checks = {
        "camera": _check_camera,
        "card_reader": _check_card_reader,
        "id_reader": _check_id_reader,
        "scanner": _check_scanner,
        "printer": _check_printer,
    }
    results = [_probe(name, partial(check, config)) for name, check in checks.items()]
    found = _discovered()
    lines = [f"{r['device']:<12} {r['state']:<6} {r['detail']}" for r in results]
    lines += [""] + [f"{key}: {', '.join(values) or '-'}" for key, values in found.items()]
    _emit({"devices": results, "discovered": found}, as_json, lines)
    if any(r["state"] == "error" for r in results):
        sys.exit(1)  # so an installation script notices


# --------------------------------------------------------------------------- read-card


def _card_lines(card: CardData, unmasked: bool) -> list[str]:
    shown = card.to_json(masked=not unmasked)
    labels = {"source": "card", "id_number": "ID number", "photo_bytes": "photo (bytes)"}
    return [f"{labels.get(k, k.replace('_', ' '))}: {v}" for k, v in shown.items() if v is not None]


@devices.command("read-card")
@click.option("--kind", type=click.Choice(["ssc", "idcard"]), default="ssc", show_default=True)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="seconds to wait")
@click.option("--unmasked", is_flag=True, help="show the full ID number")
@CONFIG_OPTION
@SIMULATE_OPTION
@JSON_OPTION
def read_card(
    kind: str,
    timeout: float,
    unmasked: bool,
    config_path: Path | None,
    simulate: bool,
    as_json: bool,
) -> None:
    """Wait for a card and show what it holds (social security card or resident ID card)."""
    config = _config(config_path, simulate)
    opener = open_card_reader if kind == "ssc" else open_id_card_reader
    reader = _run(lambda: opener(config))
    if reader is None:
        raise click.ClickException(f"no {kind} reader is configured")
    try:
        if not as_json:
            click.echo(f"put a card in {reader.name} ...", err=True)
        card = _run(lambda: reader.read(timeout))
    finally:
        reader.close()
    _emit(card.to_json(masked=not unmasked), as_json, _card_lines(card, unmasked))


# --------------------------------------------------------------------------- photo


@devices.command("photo")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("photo.jpg"),
    show_default=True,
)
@click.option("--timeout", type=float, default=10.0, show_default=True)
@CONFIG_OPTION
@SIMULATE_OPTION
@JSON_OPTION
def photo(
    output: Path, timeout: float, config_path: Path | None, simulate: bool, as_json: bool
) -> None:
    """Take one picture with the camera and save it (check focus, light and framing)."""
    config = _config(config_path, simulate)
    camera = _run(lambda: open_camera(config))
    if camera is None:
        raise click.ClickException("no camera is configured")
    try:
        frame = _run(lambda: camera.next_frame(timeout))
    finally:
        camera.close()
    try:
        frame.save(output)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot save {output}: {exc}") from None
    data = {
        "path": str(output),
        "width": frame.width,
        "height": frame.height,
        "camera": camera.name,
    }
    _emit(data, as_json, [f"saved {output} ({frame.width}x{frame.height}) from {camera.name}"])


# --------------------------------------------------------------------------- print-test


def self_test_receipt(config: DeviceConfig) -> Receipt:
    """A receipt exercising what real ones use: Chinese, amounts, a QR code, both widths."""
    now = datetime.now().replace(microsecond=0)
    number = f"TEST-{now:%Y%m%d%H%M%S}"
    return Receipt(
        title="打印测试",
        header="农保 设备自检",
        lines=[
            ReceiptLine("纸宽", f"{config.printer.width_mm} mm"),
            ReceiptLine("字符集", config.printer.charset.upper()),
            ReceiptLine("中文", "社会保障卡 生存认证 养老金"),
            ReceiptLine("基础养老金", amount=Decimal("153.00")),
        ],
        printed_at=now,
        device=platform.node() or "kiosk",
        number=number,
        qr=f"NONGBAO:{number}",
        footer=["扫描上方二维码应得到编号", "若中文显示为乱码，请检查打印机字符集"],
    )


@devices.command("print-test")
@click.option("--width", "width_mm", type=click.Choice(["58", "80"]), help="paper width (mm)")
@click.option(
    "--preview",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also save the PNG of the receipt",
)
@CONFIG_OPTION
@SIMULATE_OPTION
@JSON_OPTION
def print_test(
    width_mm: str | None,
    preview: Path | None,
    config_path: Path | None,
    simulate: bool,
    as_json: bool,
) -> None:
    """Print a test receipt: Chinese text, an amount and a QR code."""
    from hardware.receipt import render_png

    config = _config(config_path, simulate)
    if width_mm:
        config.printer.width_mm = 80 if width_mm == "80" else 58
    printer = _run(lambda: open_printer(config))
    if printer is None:
        raise click.ClickException("no printer is configured")
    receipt = self_test_receipt(config)
    started = time.monotonic()
    _run(lambda: printer.print_receipt(receipt))
    if preview:
        preview.write_bytes(render_png(receipt, config.printer.width_mm))
    data = {
        "printer": printer.name,
        "width_mm": config.printer.width_mm,
        "number": receipt.number,
        "qr": receipt.qr,
        "seconds": round(time.monotonic() - started, 2),
        "preview": str(preview) if preview else None,
    }
    _emit(data, as_json, [f"printed {receipt.number} on {printer.name}"])


# --------------------------------------------------------------------------- scan


@devices.command("scan")
@click.option("--timeout", type=float, default=30.0, show_default=True)
@CONFIG_OPTION
@JSON_OPTION
def scan(timeout: float, config_path: Path | None, as_json: bool) -> None:
    """Read one code from the configured scanner."""
    config = _config(config_path, False)
    scanner = _run(lambda: open_scanner(config))
    if scanner is None:
        raise click.ClickException("no scanner is configured")
    try:
        if isinstance(scanner, KeyboardWedgeScanner):
            result = _run(scanner.read)  # stdin: the scanner types, then Enter
        else:
            result = _run(lambda: scanner.read(timeout))
    finally:
        scanner.close()
    _emit({"text": result.text, "source": result.source}, as_json, [result.text])


__all__ = ["devices"]
