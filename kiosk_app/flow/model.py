"""The screens and the view model: what the screen shows, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kiosk_app.texts import Text, t


class Screen(StrEnum):
    ATTRACT = "attract"
    READING = "reading"  # reading the card, then opening the resident session
    IDENTIFY = "identify"  # a look at the camera: is this the card's holder? (opens the session)
    MENU = "menu"
    LOADING = "loading"  # fetching balance / contributions / payments / a challenge
    BALANCE = "balance"
    CONTRIBUTIONS = "contributions"
    PAYMENTS = "payments"
    CAMERA = "camera"  # live camera, guidance from the quality gate
    LIVENESS = "liveness"  # one challenge action at a time
    SUBMITTING = "submitting"
    RESULT = "result"  # outcome without a receipt to print (failed, or no receipt given)
    PRINTING = "printing"  # outcome on screen while the receipt prints; or a statement
    PRINT_FAULT = "print_fault"  # printer out of paper / broken: the result stays on screen
    TAKE_CARD = "take_card"
    ERROR = "error"  # unreachable backend, unreadable card, camera trouble
    REFUSED = "refused"  # the backend said no, with a reason
    # the hidden technician menu (five taps on the attract screen's top-left corner)
    TECH_PIN = "tech_pin"
    TECH_MENU = "tech_menu"  # the kiosk's configuration, 自检
    TECH_TEST = "tech_test"  # device self-test: running, then one row per device


TECH_SCREENS = {Screen.TECH_PIN, Screen.TECH_MENU, Screen.TECH_TEST}
TECH_DEVICES = ("card_reader", "camera", "printer", "backend")
PIN_MAX_DIGITS = 8

BUSY_SCREENS = {Screen.READING, Screen.LOADING, Screen.SUBMITTING, Screen.PRINTING}
# Screens where a person is expected to act: the inactivity timer runs there.
IDLE_SCREENS = {
    Screen.IDENTIFY,
    Screen.MENU,
    Screen.BALANCE,
    Screen.CONTRIBUTIONS,
    Screen.PAYMENTS,
    Screen.CAMERA,
    Screen.LIVENESS,
    Screen.RESULT,
    Screen.PRINT_FAULT,
    Screen.ERROR,
    Screen.REFUSED,
}
PENSIONER_STATUSES = {"receiving", "suspended"}


@dataclass(frozen=True)
class Button:
    id: str
    label: Text
    icon: str = ""  # a glyph shown with the word (never colour alone)
    primary: bool = False
    hint: Text | None = None  # a second line under the label


@dataclass(frozen=True)
class Overlay:
    kind: str  # help | idle
    title: Text
    body: Text
    buttons: tuple[Button, ...]
    voice: str | None = None
    staff: Button | None = None  # 请工作人员帮忙, under the help text


@dataclass(frozen=True)
class ViewModel:
    screen: Screen
    lang: str
    title: Text
    body: Text
    tone: str = "info"  # info | success | warning | error
    icon: str = ""  # glyph for the tone: √ success, ！ warning, × error
    detail: Text | None = None  # a second block, e.g. the figure or the result kept on screen
    rows: tuple[tuple[Text, Text], ...] = ()
    buttons: tuple[Button, ...] = ()
    back: Button | None = None
    back_enabled: bool = True
    help: Button | None = None
    show_camera: bool = False
    busy: bool = False
    progress: tuple[int, int] | None = None  # liveness step (1-based), total
    notice: Text | None = None
    notice_icon: str = "√"
    picture: str = ""  # insert_card | take_card: a drawing of what to do with the card
    demo: str = ""  # a liveness action shown as a looping animation beside the live view
    countdown: int | None = None  # seconds left for the current action
    overlay: Overlay | None = None
    voice: str | None = None
    simulate: bool = False

    def button_ids(self) -> list[str]:
        ids = [b.id for b in self.buttons]
        if self.back is not None and self.back_enabled:
            ids.append(self.back.id)
        if self.help is not None:
            ids.append(self.help.id)
        if self.overlay is not None:
            ids = [b.id for b in self.overlay.buttons]
        return ids


ICON = {"success": "√", "warning": "！", "error": "×", "info": ""}
BACK = Button("back", t("btn_back"), "←")
EXIT = Button("back", t("btn_exit"), "←")
HELP = Button("help", t("btn_help"), "？")
STAFF = Button("call_staff", t("btn_call_staff"), "人")


def date_text(d: date) -> Text:
    return Text(f"{d.year}年{d.month}月{d.day}日", d.isoformat())


def value_text(value: str) -> Text:
    return Text(value, value) if value else t("tech_not_set")


def join_texts(a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str]:
    return a[0] + "\n" + b[0], a[1] + "\n" + b[1]
