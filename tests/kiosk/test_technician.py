"""The hidden technician menu: corner taps, PIN pad (lockout), configuration, device self-test."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from kiosk_app import flow as f
from kiosk_app.backend import HttpKioskBackend, SimulatedKioskBackend, Unreachable
from kiosk_app.config import KioskConfig
from kiosk_app.controller import KioskController
from kiosk_app.devices import (
    HardwareCamera,
    HardwareCardSlot,
    HardwarePrinter,
    SimulatedCamera,
    SimulatedCardSlot,
    SimulatedPrinter,
    check_camera,
    check_card_reader,
    check_printer,
)
from kiosk_app.face import SimulatedActionWatcher, SimulatedFaceGate
from kiosk_app.models import CardKind

from .conftest import FakeClock, only, to_menu

S = f.Screen
PIN = "2468"
CONFIG = KioskConfig(
    tech_pin=PIN,
    backend_url="https://county.example",
    device_id="KIOSK-07",
    location="城关镇便民服务大厅",
    orientation="portrait",
)


@pytest.fixture
def tech(clock: FakeClock) -> f.KioskFlow:
    return f.KioskFlow(CONFIG, clock=clock)


def corner_taps(flow: f.KioskFlow, clock: FakeClock, n: int = 5, gap: float = 0.4) -> None:
    for _ in range(n):
        flow.handle(f.Touch(corner=True))
        clock.advance(gap)


def enter_pin(flow: f.KioskFlow, pin: str) -> list:
    for digit in pin:
        assert flow.handle(f.Tap(f"pin_{digit}")) == []
    return flow.handle(f.Tap("pin_ok"))


def to_tech_menu(flow: f.KioskFlow, clock: FakeClock) -> None:
    corner_taps(flow, clock)
    assert flow.screen == S.TECH_PIN
    enter_pin(flow, PIN)
    assert flow.screen == S.TECH_MENU


def texts(view: f.ViewModel, lang: str = "zh") -> str:
    parts = [view.title.get(lang), view.body.get(lang)]
    parts += [x.get(lang) for row in view.rows for x in row]
    parts += [b.label.get(lang) for b in view.buttons]
    return "\n".join(parts)


# ---------------------------------------------------------------- the hidden entry


def test_five_corner_taps_on_attract_open_the_pin_pad(tech, clock) -> None:
    corner_taps(tech, clock, 4)
    assert tech.screen == S.ATTRACT
    corner_taps(tech, clock, 1)
    assert tech.screen == S.TECH_PIN
    view = tech.view()
    assert view.body.zh == "—" and view.help is None and view.voice is None
    ids = view.button_ids()
    assert {f"pin_{d}" for d in range(10)} | {"pin_del", "pin_ok", "back"} == set(ids)


@pytest.mark.parametrize(
    "taps",
    [
        pytest.param([True] * 4, id="four-taps"),
        pytest.param([True, True, False, True, True, True], id="a-touch-elsewhere-resets"),
        pytest.param([False] * 8, id="taps-elsewhere"),
    ],
)
def test_a_wrong_tap_pattern_does_not_open(tech, clock, taps: list[bool]) -> None:
    for corner in taps:
        tech.handle(f.Touch(corner=corner))
        clock.advance(0.3)
    assert tech.screen == S.ATTRACT


def test_slow_taps_do_not_open(tech, clock) -> None:
    corner_taps(tech, clock, 5, gap=CONFIG.tech_tap_window_s / 4 + 0.1)
    assert tech.screen == S.ATTRACT


def test_no_pin_configured_means_no_menu(clock) -> None:
    flow = f.KioskFlow(KioskConfig(), clock=clock)
    corner_taps(flow, clock, 10)
    assert flow.screen == S.ATTRACT


def test_corner_taps_do_nothing_during_a_session(clock) -> None:
    flow = f.KioskFlow(CONFIG, clock=clock)
    to_menu(flow)
    corner_taps(flow, clock, 6)
    assert flow.screen == S.MENU


# ---------------------------------------------------------------- the PIN


def test_the_right_pin_opens_the_menu_with_the_configuration(tech, clock) -> None:
    to_tech_menu(tech, clock)
    view = tech.view()
    shown = texts(view)
    for value in ("https://county.example", "KIOSK-07", "城关镇便民服务大厅", "竖屏"):
        assert value in shown
    assert PIN not in shown and "token" not in texts(view, "en").lower()
    assert PIN not in repr(CONFIG)  # the PIN never lands in a log line either
    assert view.button_ids() == ["tech_selftest", "back"]
    assert view.back is not None and view.back.label.zh == "退出"


def test_an_unset_setting_says_so(clock) -> None:
    flow = f.KioskFlow(KioskConfig(tech_pin=PIN), clock=clock)
    to_tech_menu(flow, clock)
    assert "未设置" in texts(flow.view())


def test_the_pin_is_compared_in_constant_time(tech, clock, monkeypatch) -> None:
    calls: list[tuple[bytes, bytes]] = []

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(f.hmac, "compare_digest", spy)
    to_tech_menu(tech, clock)
    assert calls == [(PIN.encode(), PIN.encode())]


def test_a_wrong_pin_stays_on_the_pad_and_says_how_many_tries_are_left(tech, clock) -> None:
    corner_taps(tech, clock)
    enter_pin(tech, "1111")
    assert tech.screen == S.TECH_PIN
    view = tech.view()
    assert view.notice is not None and "2" in view.notice.zh and view.notice_icon == "×"
    assert view.body.zh == "—"  # the digits are cleared
    enter_pin(tech, PIN)
    assert tech.screen == S.TECH_MENU


def test_delete_and_the_digit_limit(tech, clock) -> None:
    corner_taps(tech, clock)
    for d in "24689":
        tech.handle(f.Tap(f"pin_{d}"))
    tech.handle(f.Tap("pin_del"))
    assert tech.view().body.zh == "●●●●"
    for _ in range(20):
        tech.handle(f.Tap("pin_1"))
    assert tech.view().body.zh == "●" * f.PIN_MAX_DIGITS
    assert tech.handle(f.Tap("pin_ok")) == [] and tech.screen == S.TECH_PIN


def test_three_wrong_pins_lock_the_entry_for_a_while(tech, clock) -> None:
    corner_taps(tech, clock)
    for _ in range(CONFIG.tech_max_pin_attempts):
        enter_pin(tech, "0000")
    assert tech.screen == S.ATTRACT and tech.tech_locked
    corner_taps(tech, clock)
    assert tech.screen == S.ATTRACT  # locked: the taps do nothing
    clock.advance(CONFIG.tech_lockout_s)
    assert not tech.tech_locked
    corner_taps(tech, clock)
    assert tech.screen == S.TECH_PIN
    enter_pin(tech, "0000")  # a fresh count after the lockout
    assert tech.screen == S.TECH_PIN


def test_leaving_the_pad_does_not_reset_the_wrong_pin_count(tech, clock) -> None:
    corner_taps(tech, clock)
    enter_pin(tech, "0000")
    enter_pin(tech, "0000")
    tech.handle(f.Tap("back"))
    corner_taps(tech, clock)
    enter_pin(tech, "0000")
    assert tech.screen == S.ATTRACT and tech.tech_locked


def test_back_on_the_pin_pad_returns_to_attract(tech, clock) -> None:
    corner_taps(tech, clock)
    tech.handle(f.Tap("back"))
    assert tech.screen == S.ATTRACT


# ---------------------------------------------------------------- self-test in the flow

ALL_OK = (
    f.CheckResult("card_reader", True),
    f.CheckResult("camera", True),
    f.CheckResult("printer", True, "printed"),
    f.CheckResult("backend", True),
)


def start_self_test(flow: f.KioskFlow) -> f.RunSelfTest:
    effects = flow.handle(f.Tap("tech_selftest"))
    run = only(effects, f.RunSelfTest)
    assert flow.screen == S.TECH_TEST and flow.view().busy
    assert not flow.view().back_enabled
    return run


def test_self_test_results_are_words_and_glyphs(tech, clock) -> None:
    to_tech_menu(tech, clock)
    run = start_self_test(tech)
    tech.handle(f.SelfTestDone(run.req, ALL_OK))
    view = tech.view()
    assert not view.busy and view.tone == "success" and view.icon == "√"
    assert view.body.zh == "全部正常"
    assert [r[1].zh for r in view.rows] == ["√ 正常", "√ 正常", "√ 正常，测试凭条已打印", "√ 正常"]
    assert [r[0].en for r in view.rows] == ["Card reader", "Camera", "Printer", "Backend"]
    faults = (
        f.CheckResult("card_reader", False, "no_reader"),
        f.CheckResult("camera", True),
        f.CheckResult("printer", False, "out_of_paper", "simulated printer out of paper"),
        f.CheckResult("backend", False, "weird_code"),
    )
    run = start_self_test(tech)
    tech.handle(f.SelfTestDone(run.req, faults))
    view = tech.view()
    assert view.tone == "error" and view.icon == "×" and "3" in view.body.zh
    right = {r[0].zh: r[1] for r in view.rows}
    assert right["读卡器"].zh == "× 故障：没有读卡器"
    assert right["打印机"].zh == "× 故障：缺纸" and right["打印机"].en == "× Fault: out of paper"
    assert right["服务器"].zh == "× 故障"  # an unknown code still says "fault" in words


def test_a_self_test_without_an_answer_ends_on_its_watchdog(tech, clock) -> None:
    to_tech_menu(tech, clock)
    run = start_self_test(tech)
    clock.advance(CONFIG.tech_self_test_s)
    tech.handle(f.Tick())
    assert tech.screen == S.TECH_TEST and not tech.view().busy
    assert tech.view().tone == "error" and "超时" in tech.view().body.zh
    tech.handle(f.SelfTestDone(run.req, ALL_OK))  # too late: ignored
    assert tech.view().rows == ()


def test_back_from_the_results_to_the_menu_then_exit_to_attract(tech, clock) -> None:
    to_tech_menu(tech, clock)
    run = start_self_test(tech)
    tech.handle(f.SelfTestDone(run.req, ALL_OK))
    tech.handle(f.Tap("back"))
    assert tech.screen == S.TECH_MENU
    tech.handle(f.Tap("back"))
    assert tech.screen == S.ATTRACT and not tech.has_personal_data


@pytest.mark.parametrize("where", ["pin", "menu", "results"])
def test_idle_returns_to_attract(tech, clock, where: str) -> None:
    corner_taps(tech, clock)
    if where != "pin":
        enter_pin(tech, PIN)
    if where == "results":
        run = start_self_test(tech)
        clock.advance(CONFIG.tech_self_test_s - 1)
        tech.handle(f.Tick())
        assert tech.view().busy  # a running self-test is not idleness
        tech.handle(f.SelfTestDone(run.req, ALL_OK))
    clock.advance(CONFIG.tech_idle_s - 1)
    tech.handle(f.Tick())
    assert tech.screen in f.TECH_SCREENS
    tech.handle(f.Touch())  # a touch keeps it open
    clock.advance(CONFIG.tech_idle_s - 1)
    tech.handle(f.Tick())
    assert tech.screen in f.TECH_SCREENS
    clock.advance(1)
    tech.handle(f.Tick())
    assert tech.screen == S.ATTRACT


def test_a_card_during_the_menu_is_asked_back_on_exit(tech, clock) -> None:
    to_tech_menu(tech, clock)
    assert tech.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)) == []
    assert tech.screen == S.TECH_MENU
    tech.handle(f.Tap("back"))
    assert tech.screen == S.TAKE_CARD
    tech.handle(f.CardRemoved())
    assert tech.screen == S.ATTRACT
    # and a card pulled while the menu is open does not throw the technician out
    to_tech_menu(tech, clock)
    tech.handle(f.CardInserted(CardKind.SOCIAL_SECURITY))
    tech.handle(f.CardRemoved())
    assert tech.screen == S.TECH_MENU


# ---------------------------------------------------------------- self-test with devices


def make(clock: FakeClock, **kw) -> tuple[KioskController, dict]:
    parts: dict[str, Any] = {
        "backend": SimulatedKioskBackend(today=lambda: date(2026, 11, 27)),
        "cards": SimulatedCardSlot(),
        "camera": SimulatedCamera(160, 120),
        "printer": SimulatedPrinter(),
    }
    parts.update(kw)
    flow = f.KioskFlow(CONFIG, clock=clock)
    c = KioskController(
        flow,
        parts["backend"],
        parts["cards"],
        parts["camera"],
        parts["printer"],
        SimulatedFaceGate(),
        SimulatedActionWatcher(3),
        mode="inline",
        clock=clock,
    )
    return c, parts


def run_self_test(c: KioskController, clock: FakeClock) -> dict[str, f.CheckResult]:
    for _ in range(5):
        c.dispatch(f.Touch(corner=True))
    for d in PIN:
        c.dispatch(f.Tap(f"pin_{d}"))
    c.dispatch(f.Tap("pin_ok"))
    assert c.flow.screen == S.TECH_MENU
    c.dispatch(f.Tap("tech_selftest"))
    c.pump()
    assert c.flow.screen == S.TECH_TEST and not c.flow.view().busy
    return {r.device: r for r in c.flow._tech_results or ()}


def test_self_test_with_the_simulated_devices_all_ok(clock) -> None:
    c, p = make(clock)
    results = run_self_test(c, clock)
    assert {d: (r.ok, r.code) for d, r in results.items()} == {
        "card_reader": (True, "ok"),
        "camera": (True, "ok"),
        "printer": (True, "printed"),
        "backend": (True, "ok"),
    }
    assert [r.title for r in p["printer"].printed] == ["农保自助机 打印测试"]
    assert c.flow.view().body.zh == "全部正常"


def test_self_test_finds_every_failing_device(clock) -> None:
    slot = SimulatedCardSlot()
    slot.reader_connected = False
    camera = SimulatedCamera(160, 120)
    camera.broken = True
    backend = SimulatedKioskBackend(today=lambda: date(2026, 11, 27))
    backend.online = False
    c, p = make(clock, cards=slot, camera=camera, printer=SimulatedPrinter(paper=0))
    p["backend"] = backend
    c.backend = backend
    results = run_self_test(c, clock)
    assert {d: (r.ok, r.code) for d, r in results.items()} == {
        "card_reader": (False, "no_reader"),
        "camera": (False, "no_frame"),
        "printer": (False, "out_of_paper"),
        "backend": (False, "unreachable"),
    }
    rows = {r[0].zh: r[1].zh for r in c.flow.view().rows}
    assert rows == {
        "读卡器": "× 故障：没有读卡器",
        "摄像头": "× 故障：没有收到画面",
        "打印机": "× 故障：缺纸",
        "服务器": "× 故障：连不上",
    }
    assert c.flow.view().body.zh == "有 4 项故障"


def test_a_device_that_blows_up_is_a_fault_not_a_dead_self_test(clock) -> None:
    class BadPrinter:
        def status(self) -> str:
            raise RuntimeError("driver bug")

    c, _ = make(clock, printer=BadPrinter())
    results = run_self_test(c, clock)
    assert (results["printer"].ok, results["printer"].code) == (False, "no_check")
    assert results["card_reader"].ok


def test_the_checks_against_hardwares_own_simulators(tmp_path: Path) -> None:
    from hardware.camera import SimulatedCamera as HwCamera
    from hardware.errors import DeviceNotFoundError
    from hardware.printer import SimulatedPrinter as HwPrinter
    from hardware.sscard import SimulatedSocialSecurityCardReader

    device = HwPrinter()
    printer = HardwarePrinter(device)
    assert check_printer(printer) == (True, "printed", "")
    assert len(device.jobs) == 1
    device.paper_out = True
    assert check_printer(printer)[:2] == (False, "out_of_paper")
    device.paper_out, device.cover_open = False, True
    assert check_printer(printer)[:2] == (False, "cover_open")
    assert len(device.jobs) == 1  # no test receipt while the printer says it cannot

    slot = HardwareCardSlot({CardKind.SOCIAL_SECURITY: SimulatedSocialSecurityCardReader()})
    assert check_card_reader(slot) == (True, "ok", "")

    class UnpluggedReader:
        def card_present(self) -> bool:
            raise DeviceNotFoundError("no card reader is connected")

    unplugged = HardwareCardSlot({CardKind.ID_CARD: UnpluggedReader()})
    ok, code, detail = check_card_reader(unplugged)
    assert (ok, code) == (False, "no_reader") and "connected" in detail

    cv2.imwrite(str(tmp_path / "f0.png"), np.full((120, 160, 3), 128, np.uint8))
    camera = HardwareCamera(lambda: HwCamera(tmp_path, fps=50))
    ok, code, _ = check_camera(camera, timeout_s=5.0)
    assert (ok, code) == (True, "ok")
    assert camera.read() is None  # stopped again: the camera light is off
    assert check_camera(HardwareCamera(lambda: None))[:2] == (False, "camera_failed")
    # returns (rather than waiting for a frame that never comes); no time is asserted
    assert check_camera(SimulatedCameraWithoutFrames(), timeout_s=0.2)[:2] == (False, "no_frame")


class SimulatedCameraWithoutFrames(SimulatedCamera):
    def read(self) -> None:
        return None


def test_the_http_backend_health_check_calls_healthz() -> None:
    seen: list[str] = []

    def answer(status: int) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            assert request.headers["Authorization"] == "Bearer tok"
            return httpx.Response(status, json={"status": "ok"})

        return httpx.MockTransport(handler)

    HttpKioskBackend("http://b.example", "tok", transport=answer(200)).health()
    assert seen == ["/healthz"]
    with pytest.raises(Unreachable):
        HttpKioskBackend("http://b.example", "tok", transport=answer(503)).health()

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(Unreachable):
        HttpKioskBackend("http://b.example", "tok", transport=httpx.MockTransport(down)).health()


def test_the_cli_fills_the_technician_settings_from_the_environment() -> None:
    from kiosk_app.cli import kiosk_config

    env = {
        "NONGBAO_KIOSK_TECH_PIN": "9753",
        "NONGBAO_KIOSK_DEVICE_ID": "KIOSK-11",
        "NONGBAO_KIOSK_LOCATION": "南关村",
        "NONGBAO_KIOSK_TOKEN": "secret-tok",
    }
    config = kiosk_config(0.5, False, "https://county.example", True, env)
    assert (config.tech_pin, config.device_id, config.location) == ("9753", "KIOSK-11", "南关村")
    assert (config.backend_url, config.orientation) == ("https://county.example", "portrait")
    assert "secret-tok" not in repr(config) and "9753" not in repr(config)
    simulated = kiosk_config(0.9, True, "http://127.0.0.1:8000", False, {})
    assert (simulated.tech_pin, simulated.backend_url) == ("", "(simulated)")
    assert simulated.orientation == "landscape"
