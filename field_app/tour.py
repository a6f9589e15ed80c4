"""Drive the real Kivy field app against a live backend, the way a worker would, and save a
PNG of each screen. The e2e test runs it under Xvfb:

    python -m field_app.tour --backend URL --data DIR --out DIR --handshake DIR \\
        --visit PERSON_ID=PHOTO ... --not-home PERSON_ID ... [--tablet]

The worker signs in, downloads the list, and (once the test has cut the network: the
handshake files `offline.request` / `offline.ok`) makes the visits offline; then (after
`online.request` / `online.ok`) taps "send now" and waits for the decisions. Prints one JSON
object: the outbox at the end. Exits 1 when a step does not happen in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from field_app.cli import SIZES, configure_kivy

Step = tuple[str, Any]


def script(app: Any, args: argparse.Namespace) -> Iterator[Step]:
    from field_app.devices import SequenceCamera, SimulatedWatcher

    flow = app.flow

    def typed(key: str, text: str) -> None:
        app.inputs[key].text = text

    yield "shot", "sign_in"
    typed("username", args.username)
    typed("password", args.password)
    typed("pin", args.pin)
    app.tap("sign_in")
    yield "wait", lambda: not app.busy and flow.screen == "list"
    app.tap("refresh")
    yield "wait", lambda: not app.busy and bool(flow.persons())
    yield "shot", "list"

    (args.handshake / "offline.request").touch()
    yield "wait", lambda: (args.handshake / "offline.ok").exists()

    for n, item in enumerate(args.visit):
        pid, photo = item.split("=", 1)
        app.tap(f"person:{pid}")
        if n == 0:
            yield "shot", "person"
        assert isinstance(flow.dev.watcher, SimulatedWatcher)
        # the photo's face, doing the visit's challenge in 3-D when the liveness step starts
        app.camera = SequenceCamera(photo, flow.dev.watcher)
        app.tap("start_face")
        yield "wait", lambda: flow.screen == "face" and (flow.draft.face.phase == "liveness")
        if n == 0:
            yield "shot", "face_liveness"
        yield "wait", lambda: flow.screen == "prelim"
        yield "shot", f"prelim_{n}"
        app.tap("to_documents")
        if n == 0:
            yield "wait", lambda: app.camera.latest() is not None
            app.tap("take_photo")
            yield "shot", "documents"
        app.tap("to_attest")
        app.inputs["attest"].active = True
        if "confirm_mismatch" in app.inputs:  # the worker checked the ID card: the same person
            app.inputs["confirm_mismatch"].active = True
            yield "shot", "attest_mismatch"
        typed("note", "卧床多年，家中认证")
        if n == 0:
            yield "shot", "attest"
        app.tap("save_cert")
        yield "shot", f"saved_{n}"
        app.camera.close()
        app.camera = None

    for pid in args.not_home:
        app.tap(f"person:{pid}")
        app.tap("to_not_home")
        typed("note", "门锁着，邻居说去县城看病")
        yield "shot", "not_home"
        app.tap("save_not_home")

    app.tap("show_outbox")
    yield "shot", "outbox_offline"

    (args.handshake / "online.request").touch()
    yield "wait", lambda: (args.handshake / "online.ok").exists()
    app.tap("send_now")

    def all_sent() -> bool:
        counts = flow.session.outbox().counts()
        # and the "send now" pass has said how it went
        return counts["pending"] + counts["sending"] == 0 and flow.tone == "good"

    yield "wait", all_sent
    app.mark_dirty()
    yield "shot", "outbox_synced"
    app.toggle_lang()
    yield "shot", "outbox_synced_en"
    app.tap("back")
    yield "shot", "list_after_en"


def rendered_words(root: Any) -> list[dict[str, str]]:
    """Every text the screen draws, with the widget's kind, id and font: what the e2e test
    reads for English codes and for a font without Chinese (tofu boxes)."""
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    ids = {id(w): key for key, w in root.ids.items()}
    found = []
    for w in root.walk():
        if isinstance(w, TextInput):
            for kind, text in (("input", w.text), ("hint", w.hint_text)):
                if text:
                    found.append({"kind": kind, "id": "", "text": text, "font": w.font_name})
        elif isinstance(w, Label) and w.text:
            found.append(
                {"kind": "label", "id": ids.get(id(w), ""), "text": w.text, "font": w.font_name}
            )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--handshake", type=Path, required=True)
    parser.add_argument("--visit", action="append", default=[])
    parser.add_argument("--not-home", action="append", default=[])
    parser.add_argument("--username", default="field_worker")
    parser.add_argument("--password", required=True)
    parser.add_argument("--pin", default="246810")
    parser.add_argument("--tablet", action="store_true")
    parser.add_argument("--step-timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    configure_kivy(*SIZES["tablet" if args.tablet else "phone"])

    from kivy.clock import Clock

    from field_app.app import FieldApp
    from field_app.devices import build_devices
    from field_app.flow import FieldFlow
    from field_app.ports import Fix
    from field_app.session import FieldSession
    from field_app.store import DeviceStore

    store = DeviceStore(args.data / "field.sqlite3")
    flow = FieldFlow(
        FieldSession(store),
        build_devices(True, Fix(30.657412, 104.065851, 12.0)),
        base_url=args.backend,
    )
    app = FieldApp(flow, landscape=args.tablet)
    steps = script(app, args)
    state: dict[str, Any] = {"n": 0, "failed": None}

    def advance(_dt: float = 0) -> None:
        try:
            kind, value = next(steps)
        except StopIteration:
            app.stop()
            return
        except Exception as exc:
            state["failed"] = f"tour step broke: {type(exc).__name__}: {exc}"
            app.stop()
            return
        if kind == "shot":
            app.render()
            Clock.schedule_once(lambda _dt: Clock.schedule_once(lambda _dt: shoot(value), 0.1), 0.1)
        else:
            wait(value, time.monotonic())

    def wait(check: Callable[[], bool], since: float) -> None:
        if check():
            Clock.schedule_once(advance, 0)
        elif time.monotonic() - since > args.step_timeout:
            state["failed"] = f"stuck at screen {flow.screen}: {flow.view().message}"
            app.stop()
        else:
            Clock.schedule_once(lambda _dt: wait(check, since), 0.1)

    labels: dict[str, list[dict[str, str]]] = {}

    def shoot(name: str) -> None:
        state["n"] += 1
        app.root.export_to_png(str(args.out / f"{state['n']:02d}_{name}.png"))
        labels[name] = rendered_words(app.root)
        Clock.schedule_once(advance, 0)

    app.bind(on_start=lambda *_: Clock.schedule_once(advance, 0.5))
    app.run()
    (args.out / "labels.json").write_text(
        json.dumps(labels, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if state["failed"]:
        print(state["failed"], file=sys.stderr)
        return 1
    entries = flow.session.outbox().entries() if flow.session.current else []
    print(
        json.dumps(
            {
                "outbox": [
                    {"client_id": e.client_id, "kind": e.kind, "state": e.state, "result": e.result}
                    for e in entries
                ]
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
