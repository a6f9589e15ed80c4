"""The demo kiosk as `nongbao demo` starts it (`nongbao kiosk --simulate --backend URL
--token T` with the demo's environment), driven like a visitor: press the demo resident's
card on the demo strip, tap 认证 on the menu, stand in front of the camera (the simulated
camera plays her face doing the actions), take the card. Needs a display (xvfb-run).

    python -m tests.e2e.demo_driver BACKEND TOKEN OUT

Writes OUT/report.json: the screens seen, the menu's buttons, the texts of the last
screens, the receipts printed and whether the visit completed.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    base, token, out = argv[0], argv[1], Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    from kiosk_app.cli import configure_kivy, kiosk_config

    configure_kivy(1920, 1080, fullscreen=False)
    from kivy.clock import Clock

    from kiosk_app.app import KioskApp, SimAction
    from kiosk_app.assemble import build_kiosk

    # what `nongbao kiosk --simulate --backend URL --token T --mute` builds
    config = kiosk_config(0.0, False, base, False)
    built = build_kiosk(
        simulate=True,
        backend_url=base,
        token=token,
        config=config,
        voice_enabled=False,
        receipts_dir=out / "receipts",
    )
    sim = [SimAction(label, run) for label, run in built.sim_actions]
    app = KioskApp(built.controller, landscape=True, sim_actions=sim)
    flow = built.flow
    report: dict[str, Any] = {
        "strip": [a.label for a in sim],
        "screens": [],
        "completed": False,
        "error": None,
    }
    started = time.monotonic()
    state = {"card": False, "certify": False, "shots": 0}

    def texts() -> dict[str, str]:
        v = flow.view()
        return {
            "title": v.title.zh,
            "body": v.body.zh,
            "detail": v.detail.zh if v.detail else "",
        }

    def shot(name: str) -> None:
        state["shots"] += 1
        app.root.export_to_png(str(out / f"{state['shots']:02d}_{name}.png"))

    def finish(error: str | None = None) -> None:
        report["error"] = error
        report["final"] = texts()
        report["receipts"] = sorted(p.name for p in (out / "receipts").glob("*"))
        (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
        app.stop()

    def watch(_dt: float) -> None:
        try:
            screen = str(flow.screen)
            if not report["screens"] or report["screens"][-1] != screen:
                report["screens"].append(screen)
                if screen in ("menu", "liveness", "take_card"):
                    Clock.schedule_once(lambda _dt: shot(screen), 0.3)
            if not state["card"]:
                card = next(a for a in sim if a.label.endswith("的卡"))
                app._sim(card)  # the visitor presses 王秀兰的卡 on the demo strip
                state["card"] = True
            elif screen == "menu" and not state["certify"]:
                report["menu"] = [b.id for b in flow.view().buttons]
                state["certify"] = True
                app.tap("certify")
            elif screen == "take_card" and report.get("take_card_at") is None:
                report["take_card_at"] = round(time.monotonic() - started, 1)
                report["completed"] = True
                Clock.schedule_once(lambda _dt: finish(), 1.0)
            elif screen == "result" and report.get("result") is None:
                # a result without a receipt (referred): what the backend said, then done
                result = flow._s.result if flow._s is not None else None
                report["result"] = texts()
                report["reasons"] = list(result.reasons) if result is not None else []
                report["completed"] = True
                Clock.schedule_once(lambda _dt: finish(), 1.0)
            elif screen in ("error", "refused"):
                report["stuck"] = texts()
                finish(f"stopped at {screen}")
            elif time.monotonic() - started > 240:
                finish("timeout")
        except Exception:
            finish(traceback.format_exc())

    app.bind(on_start=lambda *_: Clock.schedule_interval(watch, 0.2))
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
