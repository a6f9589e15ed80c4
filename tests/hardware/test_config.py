"""Device configuration from TOML and the environment, and the factories."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware.camera import SimulatedCamera
from hardware.config import ConfigError, DeviceConfig
from hardware.factory import (
    open_camera,
    open_card_reader,
    open_id_card_reader,
    open_printer,
    open_scanner,
)
from hardware.idcard import SimulatedIdCardReader
from hardware.printer import EscPosPrinter, SimulatedPrinter
from hardware.scanner import KeyboardWedgeScanner
from hardware.sscard import PcscSocialSecurityCardReader, SimulatedSocialSecurityCardReader

from .conftest import GUARD


def test_with_no_configuration_every_device_is_simulated() -> None:
    config = DeviceConfig.load(env={})
    camera = open_camera(config)
    try:
        assert isinstance(camera, SimulatedCamera)
        assert camera.next_frame(GUARD).image.shape == (480, 640, 3)
    finally:
        assert camera is not None
        camera.close()
    card_reader = open_card_reader(config)
    assert isinstance(card_reader, SimulatedSocialSecurityCardReader)
    assert card_reader.read(timeout=1).name == "张秀英"
    id_reader = open_id_card_reader(config)
    try:
        assert isinstance(id_reader, SimulatedIdCardReader)
        assert id_reader.read(timeout=GUARD).name == "李德福"
    finally:
        assert id_reader is not None
        id_reader.close()
    assert isinstance(open_printer(config), SimulatedPrinter)
    assert isinstance(open_scanner(config), KeyboardWedgeScanner)


def test_toml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "devices.toml"
    path.write_text(
        '[printer]\nkind = "network"\nhost = "10.0.0.9"\nwidth_mm = 80\n'
        '[card_reader]\nkind = "pcsc"\nreader = "ACS"\n'
        "[camera]\nfps = 12.5\nloop = false\n",
        encoding="utf-8",
    )
    env = {"NONGBAO_DEVICE_PRINTER_HOST": "10.0.0.7", "NONGBAO_DEVICE_CAMERA_WIDTH": "1280"}
    config = DeviceConfig.load(path, env=env)
    assert (config.printer.kind, config.printer.host, config.printer.width_mm) == (
        "network",
        "10.0.0.7",
        80,
    )
    assert (config.camera.fps, config.camera.loop, config.camera.width) == (12.5, False, 1280)
    printer = open_printer(config)
    assert isinstance(printer, EscPosPrinter) and printer.name == "10.0.0.7:9100"
    assert isinstance(open_card_reader(config), PcscSocialSecurityCardReader)


def test_simulate_overrides_real_devices_but_keeps_none() -> None:
    env = {
        "NONGBAO_DEVICE_PRINTER": "usb",
        "NONGBAO_DEVICE_CAMERA": "none",
        "NONGBAO_DEVICE_SIMULATE": "yes",
    }
    config = DeviceConfig.load(env=env)
    assert (config.printer.kind, config.camera.kind) == ("simulated", "none")
    assert open_camera(config) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"NONGBAO_DEVICE_PRINTER": "laser"}, "printer.kind: 'laser' is not one of network"),
        ({"NONGBAO_DEVICE_PRINTER_PORT": "ninety"}, "printer.port: 'ninety' is not a valid int"),
        ({"NONGBAO_DEVICE_PRINTER_WIDTH_MM": "57"}, "printer.width_mm: '57' is not one of 58, 80"),
        ({"NONGBAO_DEVICE_CAMERA_COLOUR": "1"}, "camera.colour: unknown setting"),
        ({"NONGBAO_DEVICE_SIMULATE": "maybe"}, "SIMULATE: 'maybe' is not a yes/no value"),
    ],
)
def test_wrong_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DeviceConfig.load(env=env)


def test_a_broken_or_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        DeviceConfig.load(tmp_path / "none.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[printer\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        DeviceConfig.load(bad, env={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[fax]\nkind = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown device \[fax\]"):
        DeviceConfig.load(unknown, env={})


def test_a_usb_printer_needs_its_ids() -> None:
    config = DeviceConfig.load(env={"NONGBAO_DEVICE_PRINTER": "usb"})
    with pytest.raises(ConfigError, match="usb_vendor"):
        open_printer(config)
    config.printer.usb_vendor, config.printer.usb_product = "0416", "5011"
    printer = open_printer(config)
    assert printer is not None and printer.name == "usb 0416:5011"


def test_the_shortcuts_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hardware import factory
    from hardware.receipt import Receipt

    monkeypatch.setenv("NONGBAO_DEVICE_PRINTER_OUT_DIR", str(tmp_path))
    monkeypatch.setenv("NONGBAO_DEVICE_PRINTER_WIDTH_MM", "80")
    device = factory.open_printer()
    assert isinstance(device, SimulatedPrinter) and device.width_mm == 80
    device.print_receipt(Receipt("回执", ["已完成生存认证", "谢谢"], qr="R1"))
    assert "已完成生存认证".encode("gb18030") in (tmp_path / "receipt-0001.bin").read_bytes()
    reader = factory.open_reader("idcard")
    try:
        assert isinstance(reader, SimulatedIdCardReader)
    finally:
        assert reader is not None
        reader.close()
    assert isinstance(factory.open_reader("ssc"), SimulatedSocialSecurityCardReader)
