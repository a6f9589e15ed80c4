"""The Kivy screens of the field app: draw `flow.view()`, forward taps, camera frames and
typed text. The visit's decisions are in flow.py, the app's (what a tap does, the buttons,
the online sign, the sync) in controller.py. Import after the Kivy Config is set (cli.py).

Network work (sign-in, list download) runs off the UI thread; the outbox is sent by a
background thread (controller.SyncService) that wakes when a visit is saved and otherwise
retries on its backoff schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.graphics.texture import Texture
from kivy.lang import Builder
from kivy.metrics import sp
from kivy.properties import BooleanProperty, ColorProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget

from field_app import theme
from field_app.controller import FieldController
from field_app.flow import FieldFlow, View
from field_app.ports import action_prompt
from field_app.texts import t
from field_app.theme import rgba

KV_FILE = Path(__file__).with_name("field.kv")
INPUT_SCREENS = ("sign_in", "unlock", "attest", "not_home", "dead")


class Words(Label):
    pass


class FieldButton(ButtonBehavior, Label):
    bg = ColorProperty(rgba(theme.BLUE))
    bg_down = ColorProperty(rgba(theme.BLUE_INK))
    fg = ColorProperty(rgba(theme.WHITE))


class PersonRow(FieldButton):
    pass


class Attest(FieldButton):
    """A toggle as big as a button: unticked, then ticked by the worker's own tap."""

    active = BooleanProperty(False)
    label = ""

    def on_release(self) -> None:
        self.active = not self.active

    def on_active(self, *_args: object) -> None:
        self.text = (
            "[size=40sp]✔[/size]  " if self.active else "[size=40sp]□[/size]  "
        ) + self.label
        tone = (theme.GREEN_LIGHT, theme.GREEN) if self.active else (theme.GREY_LIGHT, theme.INK)
        self.bg, self.fg = rgba(tone[0]), rgba(tone[1])


class FieldRoot(BoxLayout):
    landscape = BooleanProperty(False)
    show_camera = BooleanProperty(False)
    banner_bg = ColorProperty(rgba(theme.BLUE_LIGHT))
    banner_fg = ColorProperty(rgba(theme.BLUE_INK))


class FrameWorker:
    """Face and QR analysis off the UI thread, on the newest frame whenever the last one is
    done: the quality gate and the landmarks take ~0.1 s a frame on a desktop and more on a
    phone, and the preview must not stutter meanwhile. Older frames are simply skipped."""

    def __init__(self, work: Callable[[Any], None]) -> None:
        self._work = work
        self._slot: Any = None
        self._cv = threading.Condition()
        threading.Thread(target=self._run, name="field-frames", daemon=True).start()

    def offer(self, image: Any) -> None:
        with self._cv:
            self._slot = image
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._slot is None:
                    self._cv.wait()
                image, self._slot = self._slot, None
            self._work(image)


class FieldApp(App):
    title = "农保 上门认证 Nongbao field"

    def __init__(
        self,
        flow: FieldFlow,
        *,
        camera: Any = None,
        id_reader: Any = None,
        landscape: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.flow = flow
        self.camera = camera
        self.landscape = landscape
        self.inputs: dict[str, Any] = {}
        self._signature: object = None
        self._built_screen = ""
        self._dirty = True
        self._frame_index = -1
        self._texture: Texture | None = None
        self.controller = FieldController(
            flow, background=self._background, on_change=self.mark_dirty
        )
        self.controller.id_reader = id_reader
        self.sync = self.controller.sync
        # the flow is touched by the UI thread (taps, drawing) and the frame worker
        self.lock = threading.RLock()
        self.frames = FrameWorker(self._analyse)
        self._still: object = None

    # --- lifecycle ----------------------------------------------------------------------------

    def load_kv(self, filename: str | None = None) -> bool:
        LabelBase.register(name=theme.FONT_NAME, fn_regular=theme.FONT_PATH)
        if str(KV_FILE) not in Builder.files:
            Builder.load_file(str(KV_FILE))
        return True

    def build(self) -> FieldRoot:
        self.root = FieldRoot(landscape=self.landscape)
        self.render(force=True)
        Clock.schedule_interval(self._pump, 1 / 12)
        Clock.schedule_interval(
            lambda _dt: self.mark_dirty(), 1.0
        )  # the outbox changes in the background
        return self.root

    def on_stop(self) -> None:
        self.sync.stop()

    def mark_dirty(self) -> None:
        self._dirty = True

    def _pump(self, _dt: float) -> None:
        if self.flow.screen in ("face", "docs", "scan") and self.camera is not None:
            self._camera_step()
        if self._dirty:
            self._dirty = False
            self.render()

    def _camera_step(self) -> None:
        frame = self.camera.latest()
        if frame is None or frame.index == self._frame_index:
            return
        self._frame_index = frame.index
        self.show_frame(frame.image)
        if self.flow.screen in ("face", "scan"):
            self.frames.offer(frame.image)

    def _analyse(self, image: Any) -> None:
        """On the frame worker: one frame through the flow (face check or QR scan)."""
        if self.flow.screen == "scan":
            from hardware.scanner import decode_qr

            text = decode_qr(image)
            with self.lock:
                self.flow.qr_seen(text)
        else:
            with self.lock:
                self.flow.frame(image)
        self.mark_dirty()

    def show_frame(self, image: Any) -> None:
        h, w = image.shape[:2]
        if self._texture is None or self._texture.size != (w, h):
            self._texture = Texture.create(size=(w, h), colorfmt="rgb")
            self._texture.flip_vertical()
        self._texture.blit_buffer(image.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self.root.ids.camera.texture = self._texture
        self.root.ids.camera.canvas.ask_update()

    # --- actions ------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.controller.busy

    def _background(self, work: Callable[[], Any], then: Callable[[Any], None]) -> None:
        """Run `work` on a thread and `then` with its result on the UI thread."""

        def run() -> None:
            result = work()
            Clock.schedule_once(lambda _dt: then(result), 0)

        threading.Thread(target=run, daemon=True).start()

    def toggle_lang(self) -> None:
        self.flow.toggle_lang()
        self.render(force=True)

    def tap(self, action: str) -> None:
        """Every button lands here (the tour and tests tap by name too)."""
        with self.lock:
            if action == "take_photo":
                frame = self.camera.latest() if self.camera is not None else None
                if frame is not None:
                    self.flow.take_document(frame.image)
            else:
                self.controller.tap(action, self)
        self.render()

    # the controller's Form: what the worker typed and ticked on this screen
    def text(self, key: str) -> str:
        w = self.inputs.get(key)
        return w.text if isinstance(w, TextInput) else ""

    def checked(self, key: str) -> bool:
        w = self.inputs.get(key)
        return bool(w.active) if isinstance(w, Attest) else False

    # --- drawing ------------------------------------------------------------------------------

    def render(self, force: bool = False) -> None:
        with self.lock:
            view = self.flow.view()
            face = self.flow.draft.face if self.flow.draft else None
        if (
            view.screen == "prelim"
            and face is not None
            and face.image is not None
            and self._still is not face
        ):
            self._still = face  # the photo the backend will judge, for the worker to see
            self.show_frame(face.image)
        ids = self.root.ids
        lang = view.lang
        ids.title.text = view.title
        ids.lang.text = t("lang", lang)
        ids.status.text = self._status(view)
        message = "…" if self.busy and not view.message else view.message
        ids.banner.text = message
        bg, fg = theme.TONES[view.tone]
        self.root.banner_bg, self.root.banner_fg = rgba(bg), rgba(fg)
        self.root.show_camera = view.screen in ("face", "docs", "scan", "prelim")
        signature = (
            (view.screen, lang)
            if view.screen in INPUT_SCREENS
            else (view.screen, lang, repr(view.rows), repr(view.data), self.busy)
        )
        if force or signature != self._signature:
            self._signature = signature
            self._build(view)

    def _status(self, view: View) -> str:
        return self.controller.status(view)

    def _build(self, view: View) -> None:
        ids = self.root.ids
        content, actions = ids.content, ids.actions
        # what the worker typed survives a rebuild (a language switch, a background refresh)
        kept = (
            {k: (w.text if isinstance(w, TextInput) else w.active) for k, w in self.inputs.items()}
            if view.screen == self._built_screen
            else {}
        )
        content.clear_widgets()
        actions.clear_widgets()
        self.inputs = {}
        getattr(self, f"_screen_{view.screen}")(view, content)
        content.add_widget(Widget())  # takes the space left over: short pages start at the top
        for key, value in kept.items():
            if key in self.inputs:
                setattr(
                    self.inputs[key],
                    "text" if isinstance(self.inputs[key], TextInput) else "active",
                    value,
                )
        self._built_screen = view.screen
        for key, label, tone in self.controller.buttons(view, self.landscape):
            actions.add_widget(self._button(label, key, tone))
        n = len(actions.children)
        # a tablet held sideways has width to spare and little height: one row of buttons
        actions.cols = max(1, min(n, 4)) if self.landscape else min(n, 2) or 1

    def _button(self, text: str, action: str, tone: str = "primary") -> FieldButton:
        colours = {
            "primary": (theme.BLUE, theme.WHITE),
            "plain": (theme.BLUE_LIGHT, theme.BLUE_INK),
            "warn": (theme.AMBER_LIGHT, theme.AMBER_INK),
            "bad": (theme.RED_LIGHT, theme.RED),
            "good": (theme.GREEN, theme.WHITE),
        }
        bg, fg = colours[tone]
        b = FieldButton(
            text=text, bg=rgba(bg), bg_down=[c * 0.85 for c in rgba(bg)[:3]] + [1], fg=rgba(fg)
        )
        b.bind(on_release=lambda *_: self.tap(action))
        b.action = action
        return b

    def _words(
        self, content: Any, text: str, size: float = theme.BODY_SP, bold: bool = False
    ) -> None:
        w = Words(text=text, bold=bold)
        w.font_size = f"{size}sp"
        content.add_widget(w)

    def _input(
        self,
        content: Any,
        key: str,
        hint: str,
        *,
        password: bool = False,
        text: str = "",
        numeric: bool = False,
    ) -> None:
        self._words(content, hint, theme.SMALL_SP)
        box = cjk_input(text=text, password=password, input_filter="int" if numeric else None)
        self.inputs[key] = box
        content.add_widget(box)

    def _check(self, content: Any, key: str, label: str) -> None:
        box = Attest()
        box.label = label
        box.on_active()
        self.inputs[key] = box
        content.add_widget(box)

    # --- the screens ----------------------------------------------------------------------------

    def _screen_sign_in(self, view: View, content: Any) -> None:
        self._words(content, t("sign_in_hint", view.lang))
        self._input(content, "server", t("server", view.lang), text=self.flow.base_url)
        self._input(content, "username", t("username", view.lang))
        self._input(content, "password", t("password", view.lang), password=True)
        self._input(content, "pin", t("pin", view.lang), password=True, numeric=True)

    def _screen_unlock(self, view: View, content: Any) -> None:
        self._words(content, t("unlock_hint", view.lang))
        self._input(content, "pin", t("pin", view.lang), password=True, numeric=True)

    def _screen_list(self, view: View, content: Any) -> None:
        search = cjk_input(text=view.data.get("query", ""), hint_text=t("search", view.lang))

        def on_text(_w: Any, value: str) -> None:
            self.flow.search(value)
            self.mark_dirty()

        search.bind(text=on_text)
        content.add_widget(search)
        if not view.rows:
            self._words(content, t("list_empty", view.lang))
        village = None
        for row in view.rows:
            if row["village"] != village:
                village = row["village"]
                self._words(content, f"[b]{village}[/b]", theme.BODY_SP)
            content.add_widget(self._person_row(row, view.lang))
        content.add_widget(self._button(t("sign_out", view.lang), "sign_out", "plain"))

    def _person_row(self, row: dict[str, Any], lang: str) -> PersonRow:
        badge = f"  [color=#b71c1c]【{t('homebound', lang)}】[/color]" if row["homebound"] else ""
        text = f"[b][size=30sp]{row['name']}[/size][/b]{badge}   {row['due']}\n{row['id']}   {row['phone']}\n{row['address']} · {row['last']}"
        if row.get("visit"):
            text += f"\n[color=#0d3c82][b]→ {row['visit']}[/b][/color]"
        r = PersonRow(
            text=text, bg=rgba(theme.WHITE), bg_down=rgba(theme.BLUE_LIGHT), fg=rgba(theme.INK)
        )
        r.bind(on_release=lambda *_: self.tap(f"person:{row['person_id']}"))
        r.action = f"person:{row['person_id']}"
        return r

    def _person_facts(self, view: View, content: Any) -> None:
        p = view.data["person"]
        hb = f"   [color=#b71c1c]【{t('homebound', view.lang)}】[/color]" if p["homebound"] else ""
        self._words(content, f"[b][size=34sp]{p['name']}[/size][/b]{hb}")
        self._words(
            content, f"{p['id']}\n{p['address']}\n☎ {p['phone'] or '-'}\n{p['due']} · {p['last']}"
        )
        self._words(
            content, f"{t('location', view.lang)}: {view.data.get('location', '')}", theme.SMALL_SP
        )

    def _screen_person(self, view: View, content: Any) -> None:
        self._person_facts(view, content)

    def _screen_scan(self, view: View, content: Any) -> None:
        self._words(content, t("scan_qr", view.lang), bold=True)

    def _screen_face(self, view: View, content: Any) -> None:
        d = view.data
        if d.get("phase") == "liveness":
            steps = "  ".join(
                ("✔ " if i < d["done"] else "○ ") + t_action(a, view.lang)
                for i, a in enumerate(d["actions"])
            )
            self._words(content, steps, bold=True)
        self._words(content, view.data["person"]["name"], theme.TITLE_SP, bold=True)

    def _screen_prelim(self, view: View, content: Any) -> None:
        d = view.data
        self._words(content, f"[b][size=34sp]{d['verdict']}[/size][/b]")
        self._words(content, d["similarity"], theme.SMALL_SP)
        if d.get("liveness_note"):
            self._words(content, d["liveness_note"])
        self._words(content, t("backend_decides", view.lang))

    def _screen_docs(self, view: View, content: Any) -> None:
        self._words(content, f"{t('docs', view.lang)}: {view.data.get('documents', 0)}", bold=True)

    def _screen_attest(self, view: View, content: Any) -> None:
        self._person_facts(view, content)
        self._check(content, "attest", t("attest_text", view.lang))
        if view.data.get("mismatch"):
            self._check(content, "confirm_mismatch", t("confirm_mismatch", view.lang))
        self._input(content, "note", t("note", view.lang))

    def _screen_not_home(self, view: View, content: Any) -> None:
        self._person_facts(view, content)
        self._input(content, "note", t("note", view.lang))

    def _screen_dead(self, view: View, content: Any) -> None:
        self._person_facts(view, content)
        self._check(content, "attest", t("attest_dead", view.lang))
        self._input(content, "date_of_death", t("date_of_death", view.lang))
        self._input(content, "note", t("note", view.lang))

    def _screen_outbox(self, view: View, content: Any) -> None:
        if not view.rows:
            self._words(content, "-")
        for row in view.rows:
            colour = {"good": "1b5e20", "warn": "663c00", "bad": "b71c1c"}[row["tone"]]
            self._words(
                content,
                f"[b]{row['name']}[/b]  {row['id']}\n{row['kind']} · {t('state_' + row['state'], view.lang)}\n[color=#{colour}][b]{row['text']}[/b][/color]",
                theme.ROW_SP,
            )


def cjk_input(**kw: Any) -> TextInput:
    """A TextInput that draws Chinese: the font is set on the widget itself, as the kv rule
    alone left the typed text and the hint in Kivy's Roboto (tofu boxes) on some builds."""
    box = TextInput(font_name=theme.FONT_NAME, font_size=sp(theme.INPUT_SP), **kw)
    box.font_name = theme.FONT_NAME
    return box


def t_action(action: str, lang: str) -> str:
    zh, en = action_prompt(action)
    return zh if lang == "zh" else en


def wait_idle(app: FieldApp, then: Callable[[], None], limit: float = 60.0) -> None:
    """Call `then` once no background work is running (the tour uses it)."""
    started = time.monotonic()

    def check(_dt: float) -> None:
        if app.busy and time.monotonic() - started < limit:
            Clock.schedule_once(check, 0.1)
        else:
            then()

    Clock.schedule_once(check, 0)
