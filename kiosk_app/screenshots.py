"""Drive the real Kivy kiosk (simulated devices and backend) through its main screens, save a
PNG of each, and check the layout: text inside its box, nothing off screen, touch targets
large enough and not overlapping, no text smaller than 30 pt.

    python -m kiosk_app.screenshots --out artifacts/screenshots/kiosk [--portrait]

Needs a display (Xvfb in tests). Writes `<out>/<orientation>/<NN_name>.png` and
`<out>/<orientation>/report.json`; exits 1 when a layout check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kiosk_app.cli import configure_kivy
from kiosk_app.config import KioskConfig
from kiosk_app.models import CardInfo, CardKind

SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
TECH_PIN = "2468"  # the tour's technician PIN


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def script(
    kiosk: Any, clock: FakeClock, tap: Any, corner: Callable[[], None] | None = None
) -> Iterator[str]:
    """The tour: performs actions, yields the name of the screen to capture. `corner` taps
    the top-left corner (the technician menu's hidden entry)."""
    from kiosk_app.backend import demo_card
    from kiosk_app.flow import Screen

    c = kiosk.controller
    slot, backend, printer, flow = kiosk.cards, kiosk.backend, kiosk.printer, kiosk.flow

    def settle() -> None:
        for _ in range(20):
            c.pump()
            if not c.run_pending():
                c.pump()
                return

    def camera_until(screens: set[Screen]) -> None:
        for _ in range(80):
            settle()
            if flow.screen in screens:
                return
            c.camera_step()
        raise RuntimeError(f"the tour is stuck at {flow.screen}")

    def enter(card: CardInfo) -> None:
        """Insert a card and look at the camera until the session answer is in."""
        slot.insert(card)
        camera_until({Screen.MENU, Screen.ERROR, Screen.REFUSED})

    def leave() -> None:
        slot.remove()
        c.pump()
        assert flow.screen == Screen.ATTRACT, flow.screen

    yield "attract"
    slot.insert(demo_card(0))
    c.pump()
    yield "reading"
    settle()
    for _ in range(2):
        c.camera_step()
    c.pump()
    yield "identify"
    camera_until({Screen.MENU})
    yield "menu_due"
    tap("help")
    yield "help"
    tap("call_staff")  # 请工作人员帮忙 under the help text: the console's help list
    settle()
    yield "menu_staff_called"
    clock.advance(KioskConfig().notice_s + 1)
    tap("certify")
    settle()
    for _ in range(2):
        c.camera_step()
    c.pump()
    yield "camera_guidance"
    camera_until({Screen.LIVENESS})
    yield "liveness"
    # the first action seen: the second, its demonstration and its countdown running
    first = flow.view().progress
    for _ in range(40):
        if flow.view().progress != first:
            break
        c.camera_step()
        c.pump()
    clock.advance(4)
    yield "liveness_step2_countdown"
    for _ in range(40):
        if flow.screen == Screen.SUBMITTING:
            break
        c.camera_step()
        c.pump()
    yield "submitting"
    c.run_pending()
    c.pump()
    yield "passed_printing"
    settle()
    yield "take_card"
    leave()
    yield "attract_result_kept"  # the result stays its 8 s after the card is taken
    clock.advance(KioskConfig().result_min_s + 1)

    enter(demo_card(1))
    yield "menu_certified"
    for item in ("balance", "contributions", "payments"):
        tap(item)
        settle()
        yield item
        tap("back")
    tap("print")
    settle()
    yield "menu_receipt_notice"
    tap("lang")
    yield "menu_english"
    tap("balance")
    settle()
    yield "balance_english"
    tap("back")
    tap("lang")
    clock.advance(KioskConfig().idle_warning_s + 1)
    c.tick()
    yield "idle_warning"
    tap("continue")
    backend.online = False
    tap("payments")
    settle()
    yield "unreachable"
    backend.online = True
    tap("back")
    tap("back")
    settle()
    leave()

    printer.paper = 0
    enter(demo_card(3))
    tap("certify")
    camera_until({Screen.PRINT_FAULT})
    yield "referred_paper_out"
    printer.paper = None
    tap("done")
    settle()
    leave()

    enter(demo_card(0))
    backend.set_face(0, "fail")  # from now on the face engine says no
    tap("certify")
    camera_until({Screen.RESULT})
    yield "failed"
    tap("call_staff")  # on the failure screen itself
    settle()
    yield "failed_staff_called"
    clock.advance(KioskConfig().notice_s + 1)
    for _ in range(KioskConfig().max_face_attempts - 1):
        tap("retry")
        camera_until({Screen.RESULT})
    yield "failed_final_staff_call"  # the day's limit: a review case, staff will call
    backend.set_face(0, "pass")
    tap("done")
    settle()
    leave()
    clock.advance(KioskConfig().result_min_s + 1)

    # the card's name written differently from the register's (李建國 / 李建国)
    enter(CardInfo(CardKind.SOCIAL_SECURITY, demo_card(1).id_number, "李建國", "SSC000001"))
    yield "refused_card_mismatch"
    tap("back")
    leave()

    enter(demo_card(2, CardKind.ID_CARD))
    yield "menu_contributor"
    tap("back")
    settle()
    yield "take_id_card"
    leave()

    enter(demo_card(4))
    yield "not_recognised"
    tap("back")
    leave()

    enter(CardInfo(CardKind.SOCIAL_SECURITY, "110105195001010012", "陌生人"))
    yield "refused_not_enrolled"
    tap("back")
    leave()

    # the technician menu: five taps on the top-left corner, the PIN, the self-test
    from kiosk_app.flow import Touch

    for _ in range(5):
        corner() if corner is not None else c.dispatch(Touch(corner=True))
        clock.advance(0.3)
    assert flow.screen == Screen.TECH_PIN, flow.screen
    yield "tech_pin"
    for digit in "1111":
        tap(f"pin_{digit}")
    tap("pin_ok")
    tap("pin_2")
    tap("pin_4")
    yield "tech_pin_wrong"
    tap("pin_del")
    tap("pin_del")
    for digit in TECH_PIN:
        tap(f"pin_{digit}")
    tap("pin_ok")
    yield "tech_menu"
    tap("tech_selftest")
    yield "tech_selftest_running"
    settle()
    yield "tech_selftest"
    printer.paper, slot.reader_connected = 0, False
    tap("tech_selftest")
    settle()
    yield "tech_selftest_faults"
    printer.paper, slot.reader_connected = None, True
    tap("back")
    tap("back")
    assert flow.screen == Screen.ATTRACT, flow.screen


def check_layout(root: Any, window_size: tuple[int, int]) -> list[str]:
    """Problems a person would see: clipped or overflowing text, off-screen parts, small or
    overlapping touch targets, text under 30 pt."""
    from kivy.metrics import dp, sp
    from kivy.uix.label import Label

    from kiosk_app import theme
    from kiosk_app.app import KioskButton, OverlayCard

    issues: list[str] = []
    width, height = window_size
    tol = 2

    def visible(w: Any) -> bool:
        node = w
        while node is not None and node is not node.parent:
            if getattr(node, "opacity", 1) == 0:
                return False
            node = node.parent
        return w.width > 0 and w.height > 0

    def rect(w: Any) -> tuple[float, float, float, float]:
        x, y = w.to_window(*w.pos)
        return x, y, x + w.width, y + w.height

    def layer(w: Any) -> str:
        node = w
        while node is not None and node is not node.parent:
            if isinstance(node, OverlayCard):
                return "overlay"
            node = node.parent
        return "page"

    buttons: list[tuple[str, tuple[float, float, float, float], str]] = []
    for w in root.walk():
        if not visible(w):
            continue
        x0, y0, x1, y1 = rect(w)
        if x0 < -tol or y0 < -tol or x1 > width + tol or y1 > height + tol:
            issues.append(f"off screen: {type(w).__name__} {getattr(w, 'text', '')!r}")
        if isinstance(w, Label) and w.text.strip():
            if w.font_size < sp(theme.MIN_TEXT_PT / theme.PT_PER_SP) - 0.5:
                issues.append(f"text under {theme.MIN_TEXT_PT} pt: {w.text!r} {w.font_size}")
            tw, th = w.texture_size
            if tw > w.width + tol or th > w.height + tol:
                issues.append(f"text overflows its box: {w.text!r} {w.texture_size} > {w.size}")
            parent = w.parent
            if parent is not None and parent is not w:
                px0, py0, px1, py1 = rect(parent)
                if x0 < px0 - tol or y0 < py0 - tol or x1 > px1 + tol or y1 > py1 + tol:
                    issues.append(f"text outside its container: {w.text!r}")
        if isinstance(w, KioskButton) and w.enabled:
            if w.width < dp(theme.MIN_TARGET_DP) or w.height < dp(theme.MIN_TARGET_DP):
                issues.append(f"touch target under 60 dp: {w.text!r} {w.size}")
            buttons.append((w.text, (x0, y0, x1, y1), layer(w)))
    for i, (ta, a, la) in enumerate(buttons):
        for tb, b, lb in buttons[i + 1 :]:
            if (
                la == lb
                and a[0] < b[2] - tol
                and b[0] < a[2] - tol
                and a[1] < b[3] - tol
                and b[1] < a[3] - tol
            ):
                issues.append(f"touch targets overlap: {ta!r} / {tb!r}")
    return issues


def live(out: Path, orientation: str, limit_s: float = 90.0) -> int:
    """The app as it really runs (worker threads, camera thread, real clock): a card goes in,
    the person certifies, takes the card. Captures the live camera and the end."""
    from kivy.clock import Clock

    from kiosk_app.app import KioskApp
    from kiosk_app.assemble import build_kiosk
    from kiosk_app.backend import demo_card
    from kiosk_app.devices import SimulatedCardSlot
    from kiosk_app.face import SimulatedActionWatcher, SimulatedFaceGate
    from kiosk_app.flow import Effect, Event, Screen, Tap
    from kiosk_app.models import QualityVerdict

    kiosk = build_kiosk(simulate=True, mode="thread", voice_enabled=False)
    cards = kiosk.cards
    assert isinstance(cards, SimulatedCardSlot)
    # about a second at each camera step and each action (10 frames a second)
    scripted = SimulatedFaceGate(("no_face",) * 4 + ("too_small",) * 6)
    kiosk.controller.action_watcher = SimulatedActionWatcher(8)
    app = KioskApp(kiosk.controller, landscape=orientation == "landscape")
    seen: list[str] = []
    state = {"result": 1, "camera_shot": False}

    class ShotFirst:
        """The scripted gate, except that the camera screen sees no face until its picture
        is taken: on a busy machine the gate could otherwise pass before a frame is drawn
        (an order of events, not a race against time)."""

        def reset(self) -> None:
            scripted.reset()

        def assess(self, frame: Any) -> Any:
            if kiosk.flow.screen == Screen.CAMERA and not state["camera_shot"]:
                return QualityVerdict(False, False, "no_face", "请把脸放进框里", "No face")
            return scripted.assess(frame)

    kiosk.controller.face_gate = ShotFirst()
    # every screen the flow goes through, recorded at each transition: polling the screen
    # would miss the short ones (submitting lasts as long as the simulated backend takes)
    visited: list[str] = [str(kiosk.flow.screen)]
    handle = kiosk.flow.handle

    def recording_handle(event: Event) -> list[Effect]:
        effects = handle(event)
        if visited[-1] != str(kiosk.flow.screen):
            visited.append(str(kiosk.flow.screen))
        return effects

    kiosk.flow.handle = recording_handle  # type: ignore[method-assign]  # records each transition

    def camera_on_screen() -> bool:
        # counted in drawn frames and laid-out size, not in time: the first frames can be
        # blitted before the layout has given the camera view its place on a busy machine
        view = app._camera
        return app.frames_shown >= 3 and view is not None and min(view.size) > 200

    def watch(_dt: float) -> None:
        screen = kiosk.flow.screen
        if not seen or seen[-1] != screen:
            seen.append(str(screen))
        if screen == Screen.ATTRACT and len(seen) == 1:
            cards.insert(demo_card(0))
        elif screen == Screen.MENU:
            kiosk.controller.dispatch(Tap("certify"))
        elif screen == Screen.CAMERA and not state["camera_shot"] and camera_on_screen():
            app.root.export_to_png(str(out / "live_camera.png"))
            state["camera_shot"] = True
        elif screen == Screen.TAKE_CARD:
            app.root.export_to_png(str(out / "live_take_card.png"))
            cards.remove()
        elif screen == Screen.ATTRACT and len(seen) > 1:
            state["result"] = 0 if state["camera_shot"] else 1
            app.stop()

    def give_up(_dt: float) -> None:
        print(f"live run stuck; screens seen: {seen}", file=sys.stderr)
        app.stop()

    app.bind(on_start=lambda *_: Clock.schedule_interval(watch, 0.1))
    Clock.schedule_once(give_up, limit_s)
    app.run()
    print(json.dumps({"live": visited, "polled": seen, "camera_shot": state["camera_shot"]}))
    return int(state["result"])


def contact_sheet(out: Path, columns: int = 6, thumb: int = 384) -> Path | None:
    """One PNG of every screenshot under `out`/<orientation>/, a labelled thumbnail each,
    landscape rows first: `out`/contact_sheet.png. None when there is nothing to show."""
    from PIL import Image, ImageDraw, ImageFont

    from kiosk_app import theme

    shots = [
        path
        for orientation in ("landscape", "portrait")
        for path in sorted((out / orientation).glob("[0-9]*.png"))
    ]
    if not shots:
        return None
    font = ImageFont.truetype(theme.FONT_PATH, 22)
    label_h, gap = 34, 12
    cell_w, cell_h = thumb + gap, thumb + label_h + gap  # a square box fits both orientations
    rows = -(-len(shots) // columns)
    sheet = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, path in enumerate(shots):
        with Image.open(path) as image:
            small = image.convert("RGB")
            small.thumbnail((thumb, thumb))
        x, y = gap + (i % columns) * cell_w, gap + (i // columns) * cell_h
        sheet.paste(small, (x + (thumb - small.width) // 2, y + (thumb - small.height) // 2))
        draw.text((x, y + thumb + 4), f"{path.parent.name[0]} {path.stem}", fill="black", font=font)
    target = out / "contact_sheet.png"
    sheet.save(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/screenshots/kiosk"))
    parser.add_argument("--portrait", action="store_true")
    parser.add_argument("--live", action="store_true", help="run threaded, in real time")
    args = parser.parse_args(argv)
    orientation = "portrait" if args.portrait else "landscape"
    if args.live:
        out = args.out / orientation
        out.mkdir(parents=True, exist_ok=True)
        configure_kivy(*SIZES[orientation], fullscreen=False)
        return live(out, orientation)
    size = SIZES[orientation]
    out = args.out / orientation
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("[0-9]*.png"):
        old.unlink()
    configure_kivy(*size, fullscreen=False)

    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.core.window import Window

    from kiosk_app.app import KioskApp
    from kiosk_app.assemble import build_kiosk
    from kiosk_app.flow import Tap

    clock = FakeClock()
    config = KioskConfig(
        tech_pin=TECH_PIN,
        backend_url="(simulated)",
        device_id="KIOSK-DEMO-01",
        location="城关镇便民服务大厅",
        orientation=orientation,
    )
    kiosk = build_kiosk(
        simulate=True,
        mode="manual",
        config=config,
        clock=clock,
        voice_enabled=False,
        demo_pacing=False,
        receipts_dir=Path(tempfile.mkdtemp(prefix="kiosk-receipts-")),
    )
    app = KioskApp(kiosk.controller, landscape=orientation == "landscape")
    report: dict[str, Any] = {"size": list(size), "screens": {}}
    failures: list[str] = []

    def tap(button: str) -> None:
        kiosk.controller.dispatch(Tap(button))
        kiosk.controller.pump()

    def corner() -> None:
        from kivy.metrics import dp

        app.touched((dp(20), Window.height - dp(20)))  # as a finger in the corner would
        kiosk.controller.pump()

    steps = script(kiosk, clock, tap, corner)
    counter = [0]

    def next_step(_dt: float = 0) -> None:
        try:
            name = next(steps)
            app.render()
        except StopIteration:
            (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
            contact_sheet(args.out)  # both orientations, once the second tour is done too
            app.stop()
            return
        except Exception as exc:  # the tour itself broke: fail loudly
            failures.append(f"tour failed: {type(exc).__name__}: {exc}")
            app.stop()
            return
        # let Kivy lay out and draw (a few frames), then capture
        Clock.schedule_once(lambda _dt: Clock.schedule_once(lambda _dt: capture(name), 0.05), 0.05)

    def capture(name: str) -> None:
        counter[0] += 1
        path = out / f"{counter[0]:02d}_{name}.png"
        app.root.export_to_png(str(path))
        width, height = Window.size
        issues = check_layout(app.root, (int(width), int(height)))
        report["screens"][path.name] = {
            "screen": str(kiosk.flow.screen),
            "window": list(Window.size),
            "issues": issues,
        }
        failures.extend(f"{path.name}: {i}" for i in issues)
        Clock.schedule_once(next_step, 0)

    app.bind(on_start=lambda *_: Clock.schedule_once(next_step, 0.3))
    app.run()
    EventLoop.close() if EventLoop.status != "closed" else None
    for line in failures:
        print(line, file=sys.stderr)
    print(
        json.dumps({"out": str(out), "screens": len(report["screens"]), "failures": len(failures)})
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
