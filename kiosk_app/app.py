"""The Kivy screens: render the flow's view model, send taps and touches back.

All decisions are in the flow package (kiosk_app/flow/); this module only draws. Import it after the Kivy Config is set
(window size, input), which cli.py does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.text import LabelBase
from kivy.factory import Factory
from kivy.graphics.texture import Texture
from kivy.input.motionevent import MotionEvent
from kivy.lang import Builder
from kivy.metrics import dp
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.widget import Widget

from kiosk_app import flow as fl
from kiosk_app import theme
from kiosk_app.controller import KioskController
from kiosk_app.texts import MSG, Text
from kiosk_app.theme import rgba

KV_FILE = Path(__file__).with_name("kiosk.kv")
# The technician menu's hidden entry: taps in this square at the top-left corner (the title
# bar, no button there); the flow counts them on the attract screen.
TECH_CORNER_DP = 160


class KioskButton(ButtonBehavior, BoxLayout):
    button_id = StringProperty("")
    text = StringProperty("")
    icon = StringProperty("")
    font_sp = NumericProperty(theme.BUTTON_SP)
    bg = ColorProperty(rgba(theme.BLUE_LIGHT))
    bg_down = ColorProperty(rgba(theme.BLUE_LIGHT))
    fg = ColorProperty(rgba(theme.BLUE_INK))
    enabled = BooleanProperty(True)
    outlined = BooleanProperty(False)

    def on_bg(self, _instance: object, value: list[float]) -> None:
        self.bg_down = [c * 0.8 for c in value[:3]] + [1]

    def on_touch_down(self, touch: MotionEvent) -> bool:
        if not self.enabled or self.opacity == 0:
            return bool(self.collide_point(*touch.pos))
        return super().on_touch_down(touch)


class ToneBadge(Widget):
    glyph = StringProperty("")
    bg = ColorProperty(rgba(theme.BLUE))
    fg = ColorProperty(rgba(theme.WHITE))


class CardPicture(Widget):
    direction = StringProperty("in")


class BusyArc(Widget):
    angle = NumericProperty(0)


class CameraView(Widget):
    guide_colour = ColorProperty(rgba(theme.WHITE))
    oval_w = NumericProperty(100)
    oval_h = NumericProperty(130)

    def on_size(self, *_args: object) -> None:
        self.oval_h = min(self.height * 0.82, self.width * 0.9 * 1.3)
        self.oval_w = self.oval_h / 1.3


class ActionDemo(Widget):
    """The action to do, shown by a drawn face that does it, looping (about 2 s a loop), with
    the seconds left in big digits under it. `phase` runs 0..1; the face's parts follow."""

    action = StringProperty("")
    phase = NumericProperty(0.0)
    eye_open = NumericProperty(1.0)  # 1 open, 0 shut
    mouth_open = NumericProperty(0.0)
    smile = NumericProperty(0.0)
    dx = NumericProperty(0.0)  # -1..1: the features slide as the head turns
    dy = NumericProperty(0.0)  # -1..1: and drop as it nods
    seconds = StringProperty("")
    s = NumericProperty(100.0)  # the face's size and corner, set by the kv rule
    fx = NumericProperty(0.0)
    fy = NumericProperty(0.0)
    loop_s = 2.2

    def advance(self, dt: float) -> None:
        self.phase = (self.phase + dt / self.loop_s) % 1.0

    def on_phase(self, *_args: object) -> None:
        # hold still for the first fifth, do the action, come back: 0 -> 1 -> 0
        p = self.phase
        k = 0.0 if p < 0.2 else min(1.0, 1.0 - abs((p - 0.2) / 0.4 - 1.0) * 1.15)
        k = max(0.0, k)
        a = self.action
        self.eye_open = 1.0 - k if a == "blink" else 1.0
        self.mouth_open = k if a == "open_mouth" else 0.0
        self.smile = k if a == "smile" else 0.0
        # the live view is a mirror: "turn left" moves the face to the screen's left
        self.dx = -k if a == "turn_left" else k if a == "turn_right" else 0.0
        self.dy = -k if a == "nod" else 0.0


class LivenessPanel(BoxLayout):
    """The live view and the action's demonstration side by side (stacked in portrait)."""


class OverlayCard(FloatLayout):
    landscape = BooleanProperty(True)

    def on_touch_down(self, touch: object) -> bool:
        super().on_touch_down(touch)
        return True  # the page under the overlay gets no touches


class KioskRoot(FloatLayout):
    landscape = BooleanProperty(True)

    def on_touch_down(self, touch: MotionEvent) -> bool:
        app = App.get_running_app()
        if isinstance(app, KioskApp):
            app.touched(touch.pos)
        return super().on_touch_down(touch)


@dataclass
class SimAction:
    label: str
    run: Callable[[], None]


def register_font() -> None:
    LabelBase.register(name=theme.FONT_NAME, fn_regular=theme.FONT_PATH)


class KioskApp(App):
    """Draws `controller.flow.view()`; `sim_actions` adds the demo strip (simulate only)."""

    title = "农保 自助认证 Nongbao kiosk"

    def __init__(
        self,
        controller: KioskController,
        landscape: bool = True,
        sim_actions: list[SimAction] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.controller = controller
        self.landscape = landscape
        self.sim_actions = sim_actions or []
        self._rendered = -1
        self._texture: Texture | None = None
        self._frame_serial = -1
        self.frames_shown = 0  # camera frames drawn since this camera session began
        self._overlay: OverlayCard | None = None
        self._camera: CameraView | None = None
        self._busy: BusyArc | None = None
        self._demo: ActionDemo | None = None
        self._panel: LivenessPanel | None = None
        self.view: fl.ViewModel | None = None
        self.view_before: fl.ViewModel | None = None

    # ------------------------------------------------------------ lifecycle

    def load_kv(self, filename: str | None = None) -> bool:
        """Load kiosk.kv once (App would look for it by the class name too)."""
        register_font()
        if str(KV_FILE) not in Builder.files:
            Builder.load_file(str(KV_FILE))
        return True

    def build(self) -> KioskRoot:
        root = KioskRoot(landscape=self.landscape)
        self.root = root
        if not self.landscape:
            # portrait: the picture sits with the words, the pair centred in the column
            ids = root.ids
            ids.content.remove_widget(ids.visual)
            ids.words.add_widget(ids.visual, index=len(ids.words.children) - 1)
        self._build_sim(root)
        self.render(force=True)
        Clock.schedule_interval(self._on_pump, 1 / 10)
        Clock.schedule_interval(self._on_tick, 1 / 2)
        Clock.schedule_interval(self._on_animate, 1 / 20)
        return root

    def on_stop(self) -> None:
        self.controller.shutdown()

    def _on_pump(self, _dt: float) -> None:
        c = self.controller
        if c.mode == "inline" and self.view is not None and self.view.show_camera:
            c.camera_step()  # no camera thread in inline mode ("manual": the caller steps)
        c.pump()
        self.render()
        self.update_camera()

    def _on_tick(self, _dt: float) -> None:
        self.controller.tick()
        self.render()

    def _on_animate(self, _dt: float) -> None:
        if self._busy is not None and self._busy.parent is not None:
            self._busy.angle = (self._busy.angle - 9) % 360
        if self._demo is not None and self._demo.parent is not None:
            self._demo.advance(_dt)
            view = self.controller.flow.view()  # the countdown moves without an event
            if view.countdown is not None:
                self._demo.seconds = str(view.countdown)

    # ------------------------------------------------------------ input

    def tap(self, button_id: str) -> None:
        self.controller.dispatch(fl.Tap(button_id))
        self.render()

    def touched(self, pos: tuple[float, float] | None = None) -> None:
        corner = False
        if pos is not None and self.root is not None:
            x, y = pos
            corner = x <= dp(TECH_CORNER_DP) and y >= self.root.height - dp(TECH_CORNER_DP)
        self.controller.dispatch(fl.Touch(corner=corner))

    # ------------------------------------------------------------ drawing

    def render(self, force: bool = False) -> None:
        c = self.controller
        if not force and c.version == self._rendered:
            return
        self._rendered = c.version
        view = c.flow.view()
        self.view_before, self.view = self.view, view
        ids = self.root.ids
        lang = view.lang

        def tx(text: Text | None) -> str:
            return text.get(lang) if text is not None else ""

        ids.title.text = tx(view.title)
        ids.lang.text = MSG["btn_lang"][0 if lang == "zh" else 1]
        # notice
        notice = tx(view.notice)
        # a no-break space keeps the glyph on the line of its first word
        ids.notice_text.text = f"{view.notice_icon}\u00a0{notice}" if notice else ""
        # words
        ids.body.text = tx(view.body)
        ids.detail.text = tx(view.detail)
        self._render_rows(view, lang)
        self._render_visual(view)
        self._render_choices(view, lang)
        # back and help
        back = ids.back
        if view.back is None:
            back.opacity, back.enabled, back.text = 0, False, ""
        else:
            back.opacity, back.enabled = 1, view.back_enabled
            back.text = tx(view.back.label)
        ids.help.text = tx(view.help.label) if view.help else ""
        ids.repeat.text = MSG["btn_repeat"][0 if lang == "zh" else 1]
        ids.repeat.opacity = 1 if view.voice else 0  # nothing was said on this screen
        ids.repeat.enabled = bool(view.voice)
        ids.help.opacity = 1 if view.help else 0
        ids.help.enabled = view.help is not None
        self._render_overlay(view, lang)

    def _render_rows(self, view: fl.ViewModel, lang: str) -> None:
        table = self.root.ids.rows
        table.clear_widgets()
        if not view.rows:
            return
        # the columns share the width by how long their longest entries are
        longest_left = max(len(left.get(lang)) for left, _ in view.rows)
        longest_right = max(len(right.get(lang)) for _, right in view.rows)
        share = min(0.6, max(0.25, longest_left / (longest_left + longest_right)))
        for i, (left, right) in enumerate(view.rows):
            row = Factory.TableRow()
            row.zebra = i % 2 == 0
            row.ids.left.size_hint_x = share
            row.ids.right.size_hint_x = 1 - share
            row.ids.left.text = left.get(lang)
            row.ids.right.text = right.get(lang)
            table.add_widget(row)

    def _render_visual(self, view: fl.ViewModel) -> None:
        ids = self.root.ids
        visual = ids.visual
        visual.clear_widgets()
        landscape = self.landscape
        if view.show_camera:
            kind = "camera"
        elif view.busy:
            kind = "busy"
        elif view.picture:
            kind = "picture"
        else:
            kind = "badge" if view.icon else ""
        if landscape:
            share = {"camera": 1.25, "busy": 0.45, "badge": 0.45, "picture": 0.6}
            visual.size_hint = (share.get(kind, 0.001), 1)
        elif kind == "camera":
            visual.size_hint = (1, 1)
        else:
            visual.size_hint = (1, None)
            visual.height = {"picture": dp(350), "": 0}.get(kind, dp(220))
        ids.content.spacing = dp(28) if kind else 0
        ids.top_space.size_hint_y = ids.bottom_space.size_hint_y = (
            0.001 if kind == "camera" and not landscape else 1
        )
        if kind == "camera":
            if self._camera is None:
                self._camera = CameraView()
            cam = self._camera
            if self.view_before is None or not self.view_before.show_camera:
                # a new camera session: never show the previous person's last frame
                cam.ids.image.texture = None
                self._texture = None
                self.frames_shown = 0
            cam.guide_colour = rgba(theme.GREEN if view.tone == "success" else theme.WHITE)
            if cam.parent is not None:
                cam.parent.remove_widget(cam)
            if view.demo:
                visual.add_widget(self._liveness_panel(cam, view))
            else:
                visual.add_widget(cam)
        elif kind == "picture":
            visual.add_widget(CardPicture(direction="out" if view.picture == "take_card" else "in"))
        elif kind == "busy":
            if self._busy is None:
                self._busy = BusyArc()
            visual.add_widget(self._busy)
        elif kind == "badge":
            visual.add_widget(
                ToneBadge(
                    glyph=view.icon,
                    bg=rgba(theme.TONE_BG[view.tone]),
                    fg=rgba(theme.TONE_FG[view.tone]),
                )
            )

    def _liveness_panel(self, cam: CameraView, view: fl.ViewModel) -> LivenessPanel:
        if self._panel is None:
            self._panel = LivenessPanel(orientation="horizontal" if self.landscape else "vertical")
            self._demo = ActionDemo()
        panel, demo = self._panel, self._demo
        assert demo is not None
        panel.clear_widgets()
        if demo.action != view.demo:
            demo.action, demo.phase = view.demo, 0.0
            demo.on_phase()
        demo.seconds = "" if view.countdown is None else str(view.countdown)
        if self.landscape:
            cam.size_hint, demo.size_hint = (0.62, 1), (0.38, 1)
        else:
            cam.size_hint, demo.size_hint = (1, 0.62), (1, 0.38)
        panel.add_widget(cam)
        panel.add_widget(demo)
        return panel

    def _button(self, b: fl.Button, lang: str, font: float = theme.BUTTON_SP) -> KioskButton:
        primary = b.primary
        return KioskButton(
            button_id=b.id,
            text=b.label.get(lang),
            icon=b.icon,
            font_sp=font,
            bg=rgba(theme.BLUE if primary else theme.BLUE_LIGHT),
            fg=rgba(theme.WHITE if primary else theme.BLUE_INK),
            outlined=not primary,
            on_release=lambda w: self.tap(w.button_id),
        )

    def _render_choices(self, view: fl.ViewModel, lang: str) -> None:
        box = self.root.ids.choices
        box.clear_widgets()
        buttons = list(view.buttons)
        if not buttons:
            box.padding = (dp(32), 0, dp(32), 0)
            return
        box.padding = (dp(32), 0, dp(32), dp(16))
        per_row = 4 if self.landscape else 2
        rows: list[list[fl.Button]] = []
        if len(buttons) > 2 and buttons[0].primary:
            rows.append([buttons.pop(0)])  # the main choice gets a row of its own
        while buttons:
            rows.append(buttons[:per_row])
            buttons = buttons[per_row:]
        for row in rows:
            height = dp(theme.BUTTON_H_DP if self.landscape else theme.BUTTON_H_PORTRAIT_DP)
            line = BoxLayout(size_hint_y=None, height=height, spacing=dp(18))
            for b in row:
                line.add_widget(
                    self._staff_button(b, lang) if b.id == "call_staff" else self._button(b, lang)
                )
            box.add_widget(line)

    def _staff_button(self, b: fl.Button, lang: str) -> KioskButton:
        """请工作人员帮忙 (the console's help list), the same everywhere: purple, roomy."""
        staff = self._button(b, lang)
        staff.bg, staff.fg, staff.outlined = rgba(theme.PURPLE), rgba(theme.WHITE), False
        staff.size_hint_x = 1.6  # the longer words get the room
        return staff

    def _render_overlay(self, view: fl.ViewModel, lang: str) -> None:
        root = self.root
        if self._overlay is not None:
            root.remove_widget(self._overlay)
            self._overlay = None
        o = view.overlay
        if o is None:
            return
        card = OverlayCard(landscape=self.landscape)
        card.ids.title.text = ("？\u00a0" if o.kind == "help" else "！\u00a0") + o.title.get(lang)
        card.ids.body.text = o.body.get(lang)
        for b in o.buttons:
            card.ids.buttons.add_widget(self._button(b, lang))
        if o.staff is not None:  # 请工作人员帮忙: tells the staff (the console's help list)
            card.ids.buttons.add_widget(self._staff_button(o.staff, lang))
        root.add_widget(card)
        self._overlay = card

    def update_camera(self) -> None:
        c = self.controller
        if self.view is None or not self.view.show_camera or self._camera is None:
            return
        frame = c.latest_frame
        if frame is None or c.frame_serial == self._frame_serial:
            return
        self._frame_serial = c.frame_serial
        h, w = frame.shape[:2]
        if self._texture is None or tuple(self._texture.size) != (w, h):
            self._texture = Texture.create(size=(w, h), colorfmt="rgb")
        # mirror (people expect a mirror) and flip rows (textures are bottom-up)
        data = np.ascontiguousarray(frame[::-1, ::-1, :])
        self._texture.blit_buffer(data.tobytes(), colorfmt="rgb", bufferfmt="ubyte")
        self._camera.ids.image.texture = self._texture
        self._camera.ids.image.canvas.ask_update()
        self.frames_shown += 1

    def _build_sim(self, root: KioskRoot) -> None:
        grid = root.ids.sim
        if not self.sim_actions:
            return
        for action in self.sim_actions:
            button = KioskButton(
                text=action.label,
                font_sp=theme.SIM_SP,
                bg=rgba(theme.WHITE),
                fg=rgba(theme.INK),
                outlined=True,
                size_hint_y=None,
                height=dp(80),
            )
            button.bind(on_release=lambda _w, a=action: self._sim(a))
            grid.add_widget(button)
        rows = -(-len(self.sim_actions) // grid.cols)
        grid.height = rows * dp(88) + dp(8)
        grid.opacity = 1

    def _sim(self, action: SimAction) -> None:
        action.run()
        self.controller.pump()
        self.render()
