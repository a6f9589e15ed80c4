"""The Kivy screens of the field app: draw `flow.view()`, forward taps, camera frames and
typed text. All decisions are in flow.py. Import after the Kivy Config is set (cli.py).

Network work (sign-in, list download) runs off the UI thread; the outbox is sent by a
background thread (SyncService) that wakes when a visit is saved and otherwise retries on
its backoff schedule.
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
from kivy.properties import BooleanProperty, ColorProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget

from field_app import theme
from field_app.flow import FieldFlow, View
from field_app.sync import Backoff, Syncer
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


class SyncService:
    """The outbox sender in a background thread, for the signed-in session."""

    def __init__(self, flow: FieldFlow, on_change: Callable[[], None]) -> None:
        self.flow = flow
        self.on_change = on_change
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.syncer: Syncer | None = None

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        session = self.flow.session
        self.syncer = Syncer(
            session.outbox(), session.client(), sleep=self._sleep, backoff=Backoff()
        )
        self.syncer.on_change = self.on_change
        self.syncer.on_reachable = lambda ok: setattr(session, "reachable", ok)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="field-sync", daemon=True)
        self._thread.start()

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _run(self) -> None:
        assert self.syncer is not None
        try:
            self.syncer.run(self._stop, idle_poll=30.0)
        except Exception:  # a locked or signed-out store: the next sign-in starts a new one
            self._thread = None
        self.on_change()

    def send_now(self) -> None:
        """The worker's "send now": everything unsent, ignoring the backoff schedule."""
        syncer = self.syncer
        if syncer is not None:

            def send() -> None:
                syncer.run_once(force=True)
                self.on_change()

            threading.Thread(target=send, daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


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
        self.id_reader = id_reader
        self.landscape = landscape
        self.busy = False
        self.inputs: dict[str, Any] = {}
        self._signature: object = None
        self._built_screen = ""
        self._dirty = True
        self._frame_index = -1
        self._texture: Texture | None = None
        self.sync = SyncService(flow, self.mark_dirty)
        flow.on_saved = self.sync.wake
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

    def in_background(
        self, work: Callable[[], Any], then: Callable[[Any], None] = lambda _r: None
    ) -> None:
        self.busy = True
        self.mark_dirty()

        def run() -> None:
            result = work()

            def done(_dt: float) -> None:
                self.busy = False
                then(result)
                self.mark_dirty()

            Clock.schedule_once(done, 0)

        threading.Thread(target=run, daemon=True).start()

    def toggle_lang(self) -> None:
        self.flow.toggle_lang()
        self.render(force=True)

    def tap(self, action: str) -> None:
        """Every button lands here: one name per action, so the tour and tests can tap too."""
        with self.lock:
            self._tap(action)
        self.render()

    def _tap(self, action: str) -> None:
        f, text = self.flow, self._text
        if action == "sign_in":
            server = text("server") or f.base_url
            self.in_background(
                lambda: f.sign_in(text("username"), text("password"), text("pin"), server),
                self._signed_in,
            )
        elif action == "unlock":
            if f.unlock(text("pin")):
                self._signed_in(True)
        elif action == "refresh":
            self.in_background(f.refresh)
        elif action == "send_now":
            self.sync.start()
            self.sync.send_now()
        elif action == "read_card":
            self.in_background(self._read_card)
        elif action.startswith("person:"):
            f.select(action.split(":", 1)[1])
        elif (
            action == "take_photo" and self.camera is not None and self.camera.latest() is not None
        ):
            f.take_document(self.camera.latest().image)
        elif action == "save_cert":
            f.save_certification(self._checked("attest"), text("note"))
        elif action == "save_not_home":
            f.save_not_home(text("note"))
        elif action == "save_dead":
            f.save_dead(self._checked("attest"), text("date_of_death"), text("note"))
        elif action == "sign_out":
            if f.sign_out():
                self.sync.stop()
        else:
            getattr(f, action)()

    def _signed_in(self, ok: Any) -> None:
        if ok:
            self.sync.start()

    def _read_card(self) -> None:
        if self.id_reader is None:
            return
        try:
            card = self.id_reader.read(timeout=10)
        except Exception:
            self.flow._say(("请把身份证放在读卡器上", "Put the ID card on the reader"), "warn")
            return

        def show(_dt: float) -> None:
            self.flow.read_card(card.id_number, card.name)
            self.render()

        Clock.schedule_once(show, 0)

    def _text(self, key: str) -> str:
        w = self.inputs.get(key)
        return w.text if isinstance(w, TextInput) else ""

    def _checked(self, key: str) -> bool:
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
        session = self.flow.session
        if session.current is None:
            return ""
        counts = session.outbox().counts()
        unsent = counts["pending"] + counts["sending"]
        state = t("online" if self.flow.online() else "offline", view.lang)
        return f"{state}\n{t('outbox', view.lang)} {unsent}"

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
        for key, label, tone in self._buttons(view):
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
        box = TextInput(text=text, password=password, input_filter="int" if numeric else None)
        self.inputs[key] = box
        content.add_widget(box)

    def _check(self, content: Any, key: str, label: str) -> None:
        box = Attest()
        box.label = label
        box.on_active()
        self.inputs[key] = box
        content.add_widget(box)

    def _buttons(self, view: View) -> list[tuple[str, str, str]]:
        lang, s = view.lang, view.screen
        b = lambda key, action, tone="primary": (action, t(key, lang), tone)  # noqa: E731
        if s == "sign_in":
            return [b("sign_in", "sign_in")] + (
                [b("back", "back", "plain")] if self.flow.session.store.has_pin() else []
            )
        if s == "unlock":
            return [b("unlock", "unlock"), b("online_sign_in", "go_sign_in", "plain")]
        if s == "list":
            return [
                b("scan_qr", "start_scan", "plain"),
                b("read_card", "read_card", "plain"),
                b("refresh", "refresh", "plain"),
                b("outbox", "show_outbox", "plain"),
            ]
        if s == "scan":
            return [b("back", "back", "plain")]
        if s == "person":
            return [
                b("start_face", "start_face", "good"),
                b("not_home", "to_not_home", "warn"),
                b("reported_dead", "to_dead", "bad"),
                b("back", "back", "plain"),
            ]
        if s == "face":
            return [b("back", "back", "plain")]
        if s == "prelim":
            return [b("continue", "to_documents"), b("retry", "retry_face", "plain")]
        if s == "docs":
            return [b("take_photo", "take_photo", "plain"), b("continue", "to_attest")]
        if s == "attest":
            return [b("save", "save_cert", "good"), b("back", "back", "plain")]
        if s == "not_home":
            return [b("save", "save_not_home", "warn"), b("back", "back", "plain")]
        if s == "dead":
            return [b("save", "save_dead", "bad"), b("back", "back", "plain")]
        if s == "outbox":
            return [b("sync_now", "send_now"), b("back", "back", "plain")]
        return []

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
        search = TextInput(text=view.data.get("query", ""), hint_text=t("search", view.lang))

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
        if d.get("distance") is not None:
            self._words(content, f"distance {d['distance']:.2f}", theme.SMALL_SP)
        if d.get("liveness_note"):
            self._words(content, d["liveness_note"])
        self._words(content, t("backend_decides", view.lang))

    def _screen_docs(self, view: View, content: Any) -> None:
        self._words(content, f"{t('docs', view.lang)}: {view.data.get('documents', 0)}", bold=True)

    def _screen_attest(self, view: View, content: Any) -> None:
        self._person_facts(view, content)
        self._check(content, "attest", t("attest_text", view.lang))
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


def t_action(action: str, lang: str) -> str:
    from field_app.devices import ACTION_PROMPTS

    zh, en = ACTION_PROMPTS.get(action, (action, action))
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
