"""Runs the REAL Kivy kiosk (threaded controller, real clock, HttpKioskBackend against a live
backend) with hardware's simulated card reader and printer and the kiosk's simulated camera
(a person doing the challenge: tests/e2e/kiosk_devices.py), and walks it through a plan of visits, capturing every screen. Needs a display (the test runs it under xvfb-run).

    python -m tests.e2e.kiosk_driver PLAN.json

The plan: {backend, token, orientation, out, receipts, limit_s, visits: [{card: {id_number,
name, card_number}, photos: [paths], steps: [[screen, gate|null, shot|null, action]]}]}.
Each step waits until the kiosk shows `screen` with the call `gate` held at its gate (or no
call held), captures it as `shot`, then does `action`: insert | remove | release | tap:<id>
| none. Writes <out>/report.json: the shots (screen, layout problems, texts on screen), the
backend calls and their outcomes, and whether the plan completed.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[0]).read_text("utf-8"))
    orientation = plan["orientation"]
    from kiosk_app.cli import configure_kivy

    configure_kivy(*SIZES[orientation], fullscreen=False)

    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.label import Label

    from client.capture import DeviceKey
    from hardware.printer import SimulatedPrinter as HardwareSimulatedPrinter
    from hardware.sscard import SimulatedSocialSecurityCardReader
    from kiosk_app.app import KioskApp
    from kiosk_app.backend import HttpKioskBackend, Refused, Unreachable
    from kiosk_app.config import KioskConfig
    from kiosk_app.controller import KioskController
    from kiosk_app.devices import ChallengeCamera, HardwareCardSlot, HardwarePrinter
    from kiosk_app.face import BiometricsFaceGate, PlaybackActionWatcher
    from kiosk_app.flow import KioskFlow
    from kiosk_app.models import CardKind
    from kiosk_app.screenshots import check_layout
    from tests.e2e.kiosk_devices import FirstFrameGate, Gates, load_photos, ssc_fixture

    out = Path(plan["out"])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    limit_s = float(plan.get("limit_s", 60))

    gates = Gates(limit_s)
    config = KioskConfig()
    flow = KioskFlow(config)
    backend = HttpKioskBackend(
        plan["backend"],
        plan["token"],
        timeout_s=config.http_timeout_s,
        capture_key=DeviceKey.load_or_create(Path(plan["data_dir"])),
    )
    calls: list[dict[str, Any]] = []

    def recorded(name: str, call: Any, gate: str | None = None) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            if gate is not None:
                gates.wait(gate)
            try:
                result = call(*args, **kwargs)
            except Refused as exc:
                calls.append({"call": name, "refused": exc.reason, "detail": exc.detail})
                raise
            except Unreachable as exc:
                calls.append({"call": name, "unreachable": str(exc)})
                raise
            calls.append({"call": name, "ok": repr(result)[:300]})
            return result

        return run

    backend.open_session = recorded("open_session", backend.open_session, "open_session")  # type: ignore[method-assign]  # recorded/gated
    backend.get_challenge = recorded("get_challenge", backend.get_challenge, "get_challenge")  # type: ignore[method-assign]  # recorded/gated
    backend.get_account = recorded("get_account", backend.get_account, "get_account")  # type: ignore[method-assign]  # recorded/gated
    backend.submit_certification = recorded(  # type: ignore[method-assign]  # recorded/gated
        "submit_certification", backend.submit_certification, "submit"
    )

    reader = SimulatedSocialSecurityCardReader()
    slot = HardwareCardSlot({CardKind.SOCIAL_SECURITY: reader})
    slot.read = gates.wrap("read_card", slot.read)  # type: ignore[method-assign]  # recorded/gated
    camera = ChallengeCamera()
    shown: list[list[str]] = []
    paper = HardwareSimulatedPrinter(out_dir=plan["receipts"])
    printer = HardwarePrinter(paper)
    printer.print_receipt = gates.wrap("print", printer.print_receipt)  # type: ignore[method-assign]  # recorded/gated
    controller = KioskController(
        flow,
        backend,
        slot,
        camera,
        printer,
        FirstFrameGate(BiometricsFaceGate(), gates, "assess"),
        FirstFrameGate(PlaybackActionWatcher(camera), gates, "watch"),
        mode="thread",
    )
    camera.fps = controller.camera_fps  # one new frame per read: rendered at the read rate
    app = KioskApp(controller, landscape=orientation == "landscape")

    steps: list[tuple[int, list[Any]]] = [
        (v, step) for v, visit in enumerate(plan["visits"]) for step in visit["steps"]
    ]
    report: dict[str, Any] = {
        "orientation": orientation,
        "window": None,
        "shots": [],
        "calls": calls,
        "completed": False,
        "error": None,
    }
    state: dict[str, Any] = {"i": 0, "busy": False, "since": time.monotonic(), "n": 0}

    def finish(error: str | None = None) -> None:
        report["error"] = error
        report["gates"] = gates.log
        report["camera_shown"] = shown
        report["final_screen"] = str(flow.screen)
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
        gates.release()
        app.stop()

    def texts() -> list[str]:
        return [
            w.text
            for w in app.root.walk()
            if isinstance(w, Label) and w.text.strip() and w.opacity > 0
        ]

    def ready(step: list[Any]) -> bool:
        screen, gate = step[0], step[1]
        if str(flow.screen) != screen or gates.pending != gate:
            return False
        if gate in ("assess", "watch"):  # the live picture is on screen
            return controller.frame_serial > 0 and app._frame_serial == controller.frame_serial
        return True

    def act(visit: int, action: str) -> None:
        card = plan["visits"][visit]["card"]
        if action == "insert":
            photos = [Path(p) for p in plan["visits"][visit]["photos"]]
            camera.show(load_photos(photos))
            shown.append([p.name for p in photos])
            reader.insert(ssc_fixture(card["id_number"], card["name"], card["card_number"]))
        elif action == "remove":
            reader.remove()
        elif action == "release":
            gates.release()
        elif action.startswith("tap:"):
            app.tap(action[4:])
        elif action != "none":
            raise ValueError(f"unknown action {action}")

    def capture(visit: int, step: list[Any]) -> None:
        try:
            shot = step[2]
            if shot:
                state["n"] += 1
                path = out / f"{state['n']:02d}_{shot}.png"
                app.root.export_to_png(str(path))
                width, height = Window.size
                report["shots"].append(
                    {
                        "file": path.name,
                        "shot": shot,
                        "visit": visit,
                        "screen": str(flow.screen),
                        "window": list(Window.size),
                        "issues": check_layout(app.root, (int(width), int(height))),
                        "texts": texts(),
                    }
                )
            act(visit, step[3])
        except Exception:
            finish(traceback.format_exc())
            return
        state["i"] += 1
        state["since"] = time.monotonic()
        state["busy"] = False

    def watch(_dt: float) -> None:
        if state["busy"]:
            return
        if state["i"] >= len(steps):
            report["completed"] = True
            finish()
            return
        visit, step = steps[state["i"]]
        if not ready(step):
            if time.monotonic() - state["since"] > limit_s:
                finish(
                    f"stuck waiting for {step} at screen {flow.screen}, "
                    f"gate {gates.pending!r}; calls {calls[-3:]}"
                )
            return
        state["busy"] = True
        app.render()
        # let Kivy lay out and draw a few frames, then capture
        Clock.schedule_once(
            lambda _dt: Clock.schedule_once(lambda _dt: capture(visit, step), 0.1), 0.1
        )

    def start(*_args: Any) -> None:
        report["window"] = list(Window.size)
        Clock.schedule_interval(watch, 0.05)

    app.bind(on_start=start)
    app.run()
    print(json.dumps({"completed": report["completed"], "shots": len(report["shots"])}))
    return 0 if report["completed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
