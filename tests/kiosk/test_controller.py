"""The controller carrying out the flow's effects with the simulated backend and devices."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest

from kiosk_app import flow as f
from kiosk_app.assemble import Kiosk, build_kiosk
from kiosk_app.backend import SimulatedKioskBackend, demo_card
from kiosk_app.config import KioskConfig
from kiosk_app.controller import KioskController
from kiosk_app.devices import SimulatedCamera, SimulatedCardSlot, SimulatedPrinter
from kiosk_app.face import SimulatedActionWatcher, SimulatedFaceGate, TimedActionWatcher
from kiosk_app.models import CardInfo, Resident

from .conftest import FakeClock

S = f.Screen


def make(clock: FakeClock, mode: str = "inline", **kw) -> tuple[KioskController, dict]:
    parts: dict[str, Any] = {
        "backend": SimulatedKioskBackend(today=lambda: date(2026, 11, 27)),
        "cards": SimulatedCardSlot(),
        "camera": SimulatedCamera(160, 120),
        "printer": SimulatedPrinter(),
        "face": SimulatedFaceGate(("no_face", "too_small")),
        "watcher": SimulatedActionWatcher(3),
        "spoken": [],
    }
    parts.update(kw)
    flow = f.KioskFlow(KioskConfig(), clock=clock)
    controller = KioskController(
        flow,
        parts["backend"],
        parts["cards"],
        parts["camera"],
        parts["printer"],
        parts["face"],
        parts["watcher"],
        speak=parts["spoken"].append,
        mode=mode,
        clock=clock,
    )
    return controller, parts


def enter(c: KioskController, p: dict, index: int = 0) -> None:
    """Insert a demo card and look at the camera until the session answer is in."""
    p["cards"].insert(demo_card(index))
    c.pump()
    run_camera(c, {S.MENU, S.ERROR, S.REFUSED})


def run_camera(c: KioskController, until: set[S], limit: int = 60) -> None:
    for _ in range(limit):
        if c.flow.screen in until:
            return
        c.camera_step()
        c.pump()
    raise AssertionError(f"stuck at {c.flow.screen}")


def test_a_whole_certification(clock: FakeClock) -> None:
    c, p = make(clock)
    p["cards"].insert(demo_card(0))
    c.pump()
    assert c.flow.screen == S.IDENTIFY
    run_camera(c, {S.MENU})
    c.dispatch(f.Tap("certify"))
    c.pump()
    assert c.flow.screen == S.CAMERA
    c.camera_step()
    c.pump()
    assert c.flow.view().body.zh == "请把脸放进框里" and c.latest_frame is not None
    run_camera(c, {S.TAKE_CARD})
    backend: SimulatedKioskBackend = p["backend"]
    [(person, result)] = backend.certifications
    assert person == "P0001" and result.outcome == "passed"
    images, frames = backend.submissions[0]
    [(_, challenge, used)] = backend.challenges.values()
    assert used and images == 1
    [evidence] = backend.evidence
    assert evidence.actions_done == challenge.actions
    assert len(evidence.measurements) >= 3 * len(challenge.actions)  # every frame measured
    samples = [m["sample"] for m in evidence.measurements if "sample" in m]
    # every frame 1/7 s after the one sent before it (the camera steps here run faster)
    assert samples == list(range(frames)) and frames >= 1
    stamps = [m["t"] for m in evidence.measurements]
    assert stamps == sorted(stamps)
    [receipt] = p["printer"].printed
    assert receipt.qr_code == result.receipt.code
    assert "有效期至：2027-11-30" in receipt.lines
    # the person is forgotten: photos dropped, backend session closed
    assert c._photo is None and c._samples == [] and c._measurements == []
    assert c.latest_frame is None
    assert backend.sessions == {}
    assert {"reading", "menu_due", "camera", "submitting", "passed_printing"} <= set(p["spoken"])
    assert p["spoken"][-1] == "take_card"
    p["cards"].remove()
    c.pump()
    assert c.flow.screen == S.ATTRACT


def test_out_of_paper_shows_the_result(clock: FakeClock) -> None:
    c, p = make(clock, printer=SimulatedPrinter(paper=0))
    enter(c, p, 3)
    c.dispatch(f.Tap("certify"))
    c.pump()
    run_camera(c, {S.PRINT_FAULT})
    view = c.flow.view()
    assert view.body.zh == "已提交，等待审核"
    assert view.notice is not None and "没纸" in view.notice.zh


def test_statement_print(clock: FakeClock) -> None:
    c, p = make(clock)
    enter(c, p, 1)
    c.dispatch(f.Tap("print"))
    c.pump()
    [statement] = p["printer"].printed
    assert any(line.startswith("个人账户余额：") for line in statement.lines)
    assert any("发放" in line for line in statement.lines)
    assert c.flow.screen == S.MENU and c.flow.view().notice is not None


def test_offline_backend_and_recovery(clock: FakeClock) -> None:
    c, p = make(clock)
    p["backend"].online = False
    enter(c, p, 0)
    assert c.flow.screen == S.ERROR and p["spoken"][-1] == "unreachable"
    p["backend"].online = True
    c.dispatch(f.Tap("retry"))
    c.pump()
    assert c.flow.screen == S.MENU


def test_unreadable_card(clock: FakeClock) -> None:
    slot = SimulatedCardSlot()
    slot.unreadable = True
    c, _ = make(clock, cards=slot)
    slot.insert(demo_card(0))
    c.pump()
    assert c.flow.screen == S.ERROR and c.flow.view().title.zh == "读不出这张卡"


def test_broken_camera_is_reported_after_three_seconds_of_nothing(clock: FakeClock) -> None:
    camera = SimulatedCamera(160, 120)
    c, p = make(clock, camera=camera)
    enter(c, p, 0)
    c.dispatch(f.Tap("certify"))
    c.pump()
    camera.broken = True
    for _ in range(int(c.camera_fps * 3) - 1):  # 3 s of camera steps, less one
        c.camera_step()
    c.pump()
    assert c.flow.screen == S.CAMERA
    c.camera_step()
    c.pump()
    assert c.flow.screen == S.ERROR and c.flow.view().title.zh == "摄像头不能用"


def test_manual_mode_late_answer_after_the_card_is_pulled(clock: FakeClock) -> None:
    c, p = make(clock, mode="manual")
    p["cards"].insert(demo_card(0))
    c.pump()
    assert c.run_pending() == 1  # read the card
    c.pump()
    assert c.flow.screen == S.IDENTIFY
    run_camera(c, {S.READING})  # the photo is taken; the session request waits
    p["cards"].remove()
    c.pump()
    assert c.run_pending() == 1  # the session opens after all...
    c.pump()
    assert c.flow.screen == S.ATTRACT and c.flow.resident is None  # ...and is ignored


def test_worker_crash_is_caught_and_the_watchdog_ends_the_wait(clock: FakeClock) -> None:
    class Broken(SimulatedKioskBackend):
        def open_session(self, card: CardInfo, photo: bytes | None = None) -> Resident:
            raise RuntimeError("bug")

    c, p = make(clock, backend=Broken())
    p["cards"].insert(demo_card(0))
    c.pump()
    run_camera(c, {S.READING})
    c.pump()
    assert c.flow.screen == S.READING
    clock.advance(c.flow.config.backend_timeout_s)
    c.tick()
    assert c.flow.screen == S.ERROR


def test_threaded_mode_reaches_the_menu(clock: FakeClock) -> None:
    c, p = make(clock, mode="thread")
    try:
        p["cards"].insert(demo_card(0))
        deadline = time.monotonic() + 10
        while c.flow.screen != S.MENU and time.monotonic() < deadline:
            c.pump()
            time.sleep(0.01)  # polling only: the outcome is decided by the assertion
        assert c.flow.screen == S.MENU
    finally:
        c.shutdown()


def test_timed_action_watcher_needs_time_and_frames() -> None:
    watcher = TimedActionWatcher(window_s=2.0, min_frames=3)
    watcher.begin(("blink", "nod"), 10.0)
    frame = SimulatedCamera(8, 8).read()
    assert frame is not None
    assert watcher.feed(frame, 10.5) == (0, {"t": 10.5, "face": True})
    assert watcher.feed(frame, 12.5)[0] == 0  # long enough, too few frames
    assert watcher.feed(frame, 12.6)[0] == 1
    for t in (13.0, 13.5, 15.0):
        done, _ = watcher.feed(frame, t)
    assert done == 2
    assert watcher.feed(frame, 20.0)[0] == 2  # never more than the challenge has


@pytest.mark.parametrize("simulate_pacing", [True, False])
def test_build_kiosk_in_simulate_mode(simulate_pacing: bool, clock: FakeClock) -> None:
    kiosk: Kiosk = build_kiosk(
        simulate=True, mode="inline", clock=clock, voice_enabled=False, demo_pacing=simulate_pacing
    )
    labels = [label for label, _ in kiosk.sim_actions]
    assert labels[0].startswith("卡A") and "取卡" in labels
    dict(kiosk.sim_actions)["卡A 待认证"]()
    kiosk.controller.pump()
    run_camera(kiosk.controller, {S.MENU})
    dict(kiosk.sim_actions)["断网/联网"]()
    assert isinstance(kiosk.backend, SimulatedKioskBackend) and kiosk.backend.online is False
    dict(kiosk.sim_actions)["缺纸/有纸"]()
    assert isinstance(kiosk.printer, SimulatedPrinter) and kiosk.printer.paper == 0
    dict(kiosk.sim_actions)["取卡"]()
    kiosk.controller.pump()
    assert kiosk.flow.screen == S.ATTRACT


def test_a_real_kiosk_needs_url_and_token() -> None:
    with pytest.raises(ValueError, match="device token"):
        build_kiosk(simulate=False, backend_url="http://x", token=None)


def test_a_camera_that_will_not_open_is_reported(clock: FakeClock) -> None:
    class NoCamera(SimulatedCamera):
        def start(self) -> None:
            raise RuntimeError("no /dev/video0")

    c, p = make(clock, camera=NoCamera())
    p["cards"].insert(demo_card(0))
    c.pump()  # the look at the camera before the menu cannot start
    assert c.flow.screen == S.ERROR and c.flow.view().title.zh == "摄像头不能用"
    c.camera_step()  # the camera is off: nothing happens
    c.pump()
    assert c.flow.screen == S.ERROR
