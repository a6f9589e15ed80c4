"""`nongbao devices`, run as a technician would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from hardware.cli import devices
from nongbao.cli import cli as nongbao

from .conftest import PrinterServer


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for name in list(os.environ):
        if name.startswith("NONGBAO_DEVICE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(devices, list(args), env=env, catch_exceptions=False)

    return invoke


def test_the_root_command_loads_the_devices_group() -> None:
    result = CliRunner().invoke(nongbao, ["devices", "--help"])
    assert result.exit_code == 0
    for command in ("list", "read-card", "photo", "print-test"):
        assert command in result.output


def test_the_installed_command_reports_errors_in_one_line(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("nongbao")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NONGBAO_DEVICE_")}
    env |= {
        "NONGBAO_DEVICE_CAMERA": "opencv",
        "NONGBAO_DEVICE_CAMERA_SOURCE": str(tmp_path / "none"),
    }
    result = subprocess.run(
        [command, "devices", "photo", "--timeout", "0.5", "--output", str(tmp_path / "p.jpg")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("nongbao: camera opencv:") and result.stderr.count("\n") == 1
    assert "sent no picture in 0.5 s" in result.stderr


def test_list_simulated(run) -> None:
    result = run("list", "--simulate", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    states = {d["device"]: d["state"] for d in report["devices"]}
    assert states == dict.fromkeys(
        ["camera", "card_reader", "id_reader", "scanner", "printer"], "ok"
    )
    assert "pcsc_readers" in report["discovered"]


def test_list_fails_when_a_configured_device_is_missing(run, printer_server: PrinterServer) -> None:
    port = printer_server.port
    printer_server.close()
    env = {"NONGBAO_DEVICE_PRINTER": "network", "NONGBAO_DEVICE_PRINTER_PORT": str(port)}
    result = run("list", env=env)
    assert result.exit_code == 1
    assert "printer      error  cannot reach the printer" in result.output


def test_read_card_masks_the_id_number(run) -> None:
    result = run("read-card", "--simulate", "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert (card["name"], card["id_number"]) == ("张秀英", "130123********0026")
    full = json.loads(run("read-card", "--simulate", "--json", "--unmasked").output)
    assert full["id_number"] == "130123195003020026"
    idcard = run("read-card", "--simulate", "--kind", "idcard")
    assert "name: 李德福" in idcard.output and "photo (bytes): 1024" in idcard.output


def test_photo(run, tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    result = run("photo", "--simulate", "--output", str(target), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["width"] == 640
    photo = cv2.imread(str(target))
    assert photo is not None and photo.shape == (480, 640, 3)


def test_print_test_on_a_network_printer(
    run, printer_server: PrinterServer, tmp_path: Path
) -> None:
    env = {
        "NONGBAO_DEVICE_PRINTER": "network",
        "NONGBAO_DEVICE_PRINTER_PORT": str(printer_server.port),
    }
    preview = tmp_path / "test.png"
    result = run("print-test", "--width", "80", "--preview", str(preview), "--json", env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    data = printer_server.wait_for_connections(1)
    assert "打印测试".encode("gb18030") in data and report["qr"].encode() in data
    image = cv2.imread(str(preview))
    assert image is not None
    assert cv2.QRCodeDetector().detectAndDecode(image)[0] == report["qr"]


def test_print_test_out_of_paper_is_one_line_and_fails(run, printer_server: PrinterServer) -> None:
    printer_server.paper_out = True
    env = {
        "NONGBAO_DEVICE_PRINTER": "network",
        "NONGBAO_DEVICE_PRINTER_PORT": str(printer_server.port),
    }
    result = run("print-test", env=env)
    assert result.exit_code == 1
    assert (
        result.output == "Error: the printer is out of paper; load a new roll, then print again\n"
    )


def test_a_wrong_configuration_is_one_line(run) -> None:
    result = run("list", env={"NONGBAO_DEVICE_PRINTER": "laser"})
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "printer.kind" in result.output
