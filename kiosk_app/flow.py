"""The kiosk's flow as a plain state machine: events in, effects and a view model out.

No Kivy, no HTTP, no hardware here. `KioskFlow.handle(event)` changes the state and returns the
effects the runner must carry out (read the card, call the backend, start the camera, print,
speak); their results come back as events carrying the request number `req` they answer, so a
late answer for an abandoned request (the card was pulled, the user went back) is ignored.
`KioskFlow.view()` describes what the screen shows now. Time comes from an injected clock;
`Tick` events make the machine look at it (timeouts, reminders).

Personal data (card, resident, figures, images) lives only for one session: every way out of a
session goes through `_end_session`, which drops it and tells the runner to forget it too.
"""

from __future__ import annotations

import hmac
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from kiosk_app.config import KioskConfig
from kiosk_app.models import (
    AccountSummary,
    CardInfo,
    CardKind,
    CertificationResult,
    Challenge,
    Contribution,
    LivenessEvidence,
    Payment,
    QualityVerdict,
    ReceiptContent,
    Resident,
    format_yuan,
)
from kiosk_app.texts import (
    GUIDE_FOR_REASON,
    KNOWN_ACTIONS,
    MSG,
    TAKE_CARD_OUTCOME,
    VOICE,
    Text,
    spoken_passed,
    t,
)


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


# ---------------------------------------------------------------- events (in)


@dataclass(frozen=True)
class Tick:
    """Look at the clock (the runner sends this a few times a second)."""


@dataclass(frozen=True)
class Touch:
    """Any touch anywhere on the screen (keeps the session alive). `corner`: it was in the
    top-left corner (the technician menu's hidden entry on the attract screen)."""

    corner: bool = False


@dataclass(frozen=True)
class Tap:
    button: str  # a Button.id of the current view


@dataclass(frozen=True)
class CardInserted:
    kind: CardKind


@dataclass(frozen=True)
class CardRemoved:
    pass


@dataclass(frozen=True)
class CardRead:
    req: int
    card: CardInfo


@dataclass(frozen=True)
class CardReadFailed:
    req: int
    detail: str = ""


@dataclass(frozen=True)
class SessionOpened:
    req: int
    resident: Resident


@dataclass(frozen=True)
class AccountLoaded:
    req: int
    account: AccountSummary


@dataclass(frozen=True)
class ContributionsLoaded:
    req: int
    items: tuple[Contribution, ...]


@dataclass(frozen=True)
class PaymentsLoaded:
    req: int
    items: tuple[Payment, ...]


@dataclass(frozen=True)
class ChallengeIssued:
    req: int
    challenge: Challenge


@dataclass(frozen=True)
class FrameAssessed:
    verdict: QualityVerdict


@dataclass(frozen=True)
class ActionDetected:
    action: str


@dataclass(frozen=True)
class CameraFailed:
    detail: str = ""


@dataclass(frozen=True)
class CertificationDone:
    req: int
    result: CertificationResult


@dataclass(frozen=True)
class PrintDone:
    req: int


@dataclass(frozen=True)
class PrinterFault:
    req: int
    kind: str = "out_of_paper"  # out_of_paper | offline | timeout


@dataclass(frozen=True)
class CheckResult:
    """One device of the self-test: `code` is ok / printed or the fault (texts tech_fault_*);
    `detail` the device's own words for the log."""

    device: str  # card_reader | camera | printer | backend
    ok: bool
    code: str = "ok"
    detail: str = ""


@dataclass(frozen=True)
class SelfTestDone:
    req: int
    results: tuple[CheckResult, ...]


@dataclass(frozen=True)
class BackendUnreachable:
    req: int
    detail: str = ""


@dataclass(frozen=True)
class BackendRefused:
    req: int
    reason: str  # e.g. not_enrolled, card_locked, not_pensioner, challenge_expired
    detail: str = ""


Event = (
    Tick
    | Touch
    | Tap
    | CardInserted
    | CardRemoved
    | CardRead
    | CardReadFailed
    | SessionOpened
    | AccountLoaded
    | ContributionsLoaded
    | PaymentsLoaded
    | ChallengeIssued
    | FrameAssessed
    | ActionDetected
    | CameraFailed
    | CertificationDone
    | PrintDone
    | PrinterFault
    | SelfTestDone
    | BackendUnreachable
    | BackendRefused
)

# ---------------------------------------------------------------- effects (out)


@dataclass(frozen=True)
class ReadCard:
    req: int
    kind: CardKind


@dataclass(frozen=True)
class OpenSession:
    req: int
    card: CardInfo
    with_photo: bool = False  # send the photo just taken (the backend checks the face)


@dataclass(frozen=True)
class LoadAccount:
    req: int
    resident: Resident


@dataclass(frozen=True)
class LoadContributions:
    req: int
    resident: Resident


@dataclass(frozen=True)
class LoadPayments:
    req: int
    resident: Resident


@dataclass(frozen=True)
class RequestChallenge:
    req: int
    resident: Resident


@dataclass(frozen=True)
class StartCamera:
    pass


@dataclass(frozen=True)
class StopCamera:
    pass


@dataclass(frozen=True)
class CaptureFace:
    """Keep the last good frame as the photo; with `actions`, start recording the liveness
    evidence for them (the challenge's actions, in order)."""

    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchAction:
    action: str


@dataclass(frozen=True)
class Submit:
    req: int
    resident: Resident
    evidence: LivenessEvidence
    idempotency_key: str


@dataclass(frozen=True)
class PrintReceipt:
    req: int
    content: ReceiptContent


@dataclass(frozen=True)
class PrintStatement:
    """Gather the resident's figures and print them (the menu's 打印)."""

    req: int
    resident: Resident


@dataclass(frozen=True)
class RunSelfTest:
    """Check every device (card reader, camera frame, printer status + a test receipt,
    backend /healthz) and answer with SelfTestDone."""

    req: int


@dataclass(frozen=True)
class Speak:
    key: str  # a texts.VOICE key
    text: str | None = None  # a sentence made now (a result with its date); `key` if it fails


@dataclass(frozen=True)
class EndSession:
    """Forget the person: close the backend session, drop photos and figures."""

    session_id: str | None


Effect = (
    ReadCard
    | OpenSession
    | LoadAccount
    | LoadContributions
    | LoadPayments
    | RequestChallenge
    | StartCamera
    | StopCamera
    | CaptureFace
    | WatchAction
    | Submit
    | PrintReceipt
    | PrintStatement
    | RunSelfTest
    | Speak
    | EndSession
)

# ---------------------------------------------------------------- view model (out)


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

# ---------------------------------------------------------------- the machine


@dataclass
class _Session:
    """Everything about the person at the kiosk; dropped as a whole at session end."""

    card_kind: CardKind
    card: CardInfo | None = None
    resident: Resident | None = None
    account: AccountSummary | None = None
    contributions: tuple[Contribution, ...] = ()
    payments: tuple[Payment, ...] = ()
    challenge: Challenge | None = None
    action_index: int = 0
    action_started: float = 0.0
    action_timings: list[float] = field(default_factory=list)
    attempts: int = 0  # failed face / liveness attempts in this session
    result: CertificationResult | None = None
    result_kind: str = ""  # passed | referred | failed | failed_final | liveness_failed
    submit_key: str = ""
    printed_receipt: bool = False


class KioskFlow:
    def __init__(
        self,
        config: KioskConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        simulate: bool = False,
    ) -> None:
        self.config = config or KioskConfig()
        self._clock = clock
        self._new_id = new_id
        self.simulate = simulate
        self.lang = "zh"
        self.screen = Screen.ATTRACT
        self.card_present = False
        self._s: _Session | None = None
        now = clock()
        self._entered = now
        self._last_activity = now
        self._idle_warned_at: float | None = None
        self._help_open = False
        # the one outstanding request
        self._req = 0
        self._op: str | None = None
        self._deadline = 0.0
        # camera guidance
        self._steady = 0
        self._guide_key = "camera_body"
        self._guide_text: Text | None = None
        self._last_guide_voice: tuple[str, float] | None = None
        self._camera_on = False
        # error / refusal screens
        self._error_kind = ""
        self._retry: Callable[[], list[Effect]] | None = None
        self._refusal: tuple[str, str] = ("", "")
        self._notice: tuple[Text, float] | None = None
        self._print_kind = ""  # certification | statement
        self._printer_fault = ""
        self._last_reminder = now
        self._voice: str | None = None
        self._voice_text: str | None = None  # the sentence said with it, if made at run time
        self._loading_kind = ""
        self._last_card_kind: CardKind | None = None
        self._take_card_receipt = False
        self._take_card_outcome = ""  # result_kind of the session that just ended
        self._last_attract_voice: float | None = None
        # the technician menu
        self._corner_taps: list[float] = []
        self._pin = ""
        self._pin_failures = 0
        self._tech_locked_until = 0.0
        self._tech_results: tuple[CheckResult, ...] | None = None

    # ------------------------------------------------------------ public

    @property
    def resident(self) -> Resident | None:
        return self._s.resident if self._s else None

    @property
    def has_personal_data(self) -> bool:
        return self._s is not None

    def handle(self, event: Event) -> list[Effect]:
        now = self._clock()
        match event:
            case Tick():
                return self._on_tick(now)
            case Touch(corner=corner):
                return self._on_touch(now, corner)
            case Tap(button=button):
                return self._on_touch(now) + self._on_tap(button, now)
            case CardInserted(kind=kind):
                return self._on_card_inserted(kind, now)
            case CardRemoved():
                return self._on_card_removed(now)
            case FrameAssessed(verdict=verdict):
                return self._on_frame(verdict, now)
            case ActionDetected(action=action):
                return self._on_action(action, now)
            case CameraFailed():
                if self.screen in (Screen.CAMERA, Screen.LIVENESS, Screen.IDENTIFY):
                    return self._stop_camera() + self._error("camera_failed", now, retry=None)
                return []
        # answers to requests: only the outstanding one counts
        req = getattr(event, "req", None)
        if req is None or req != self._req or self._op is None:
            return []
        self._op = None
        match event:
            case CardRead(card=card):
                return self._on_card_read(card, now)
            case CardReadFailed():
                return self._error("card", now, retry=None)
            case SessionOpened(resident=resident):
                assert self._s is not None
                self._s.resident = resident
                due = resident.certification_due and resident.status in PENSIONER_STATUSES
                return self._enter(Screen.MENU, now, "menu_due" if due else "menu")
            case AccountLoaded(account=account):
                assert self._s is not None
                self._s.account = account
                return self._enter(Screen.BALANCE, now, "balance")
            case ContributionsLoaded(items=items):
                assert self._s is not None
                self._s.contributions = items
                return self._enter(Screen.CONTRIBUTIONS, now, "contributions")
            case PaymentsLoaded(items=items):
                assert self._s is not None
                self._s.payments = items
                return self._enter(Screen.PAYMENTS, now, "payments")
            case ChallengeIssued(challenge=challenge):
                return self._start_camera(challenge, now)
            case CertificationDone(result=result):
                return self._on_result(result, now)
            case PrintDone():
                return self._on_printed(now)
            case PrinterFault(kind=fault):
                return self._on_printer_fault(fault, now)
            case SelfTestDone(results=results):
                self._tech_results = results
                return self._enter(Screen.TECH_TEST, now)
            case BackendUnreachable():
                return self._error("unreachable", now, retry=self._retry)
            case BackendRefused(reason="not_recognised") if self._resident_missing():
                return self._not_recognised(now)
            case BackendRefused(reason=reason, detail=detail):
                return self._refused(reason, detail, now)
        return []

    def _resident_missing(self) -> bool:
        return self._s is not None and self._s.resident is None

    def _not_recognised(self, now: float) -> list[Effect]:
        """The face did not match the card's holder when opening the session."""
        assert self._s is not None
        self._s.attempts += 1
        if self._s.attempts >= self.config.max_face_attempts:
            return self._error("not_recognised_final", now, retry=None)
        return self._error("not_recognised", now, retry=self._start_identify)

    # ------------------------------------------------------------ helpers

    def _enter(
        self, screen: Screen, now: float, voice: str | None = None, text: str | None = None
    ) -> list[Effect]:
        self.screen = screen
        self._entered = now
        self._last_activity = now
        self._idle_warned_at = None
        self._help_open = False
        self._voice = voice
        self._voice_text = text
        return [Speak(voice, text)] if voice else []

    def _request(self, op: str, now: float, timeout: float) -> int:
        self._req += 1
        self._op = op
        self._deadline = now + timeout
        return self._req

    def _stop_camera(self) -> list[Effect]:
        if self._camera_on:
            self._camera_on = False
            return [StopCamera()]
        return []

    def _end_session(self, now: float) -> list[Effect]:
        """Every way out of a session comes here: forget the person, then take-card or attract."""
        effects = self._stop_camera()
        session_id = self._s.resident.session_id if self._s and self._s.resident else None
        printed = bool(self._s and self._s.printed_receipt)
        self._take_card_outcome = self._s.result_kind if self._s else ""
        had_session = self._s is not None
        self._s = None
        self._op = None
        self._req += 1  # any late answer is now stale
        self._retry = None
        self._notice = None
        self.lang = "zh"  # the next person starts in Chinese
        if had_session:
            effects.append(EndSession(session_id))
        if self.card_present:
            self._take_card_receipt = printed
            self._last_reminder = now
            effects += self._enter(
                Screen.TAKE_CARD, now, self._take_card_voice(), self._take_card_sentence()
            )
        else:
            effects += self._enter(Screen.ATTRACT, now)
        return effects

    def _take_card_voice(self) -> str:
        return "take_id" if self._card_kind() == CardKind.ID_CARD else "take_card"

    def _take_card_sentence(self) -> str | None:
        """The take-card prompt repeats the outcome: "认证成功。…请取走您的卡", never a bare
        "办完了" after a failure."""
        outcome = TAKE_CARD_OUTCOME.get(self._take_card_outcome)
        if outcome is None:
            return None
        card = "请拿走您的身份证。" if self._card_kind() == CardKind.ID_CARD else "请取走您的卡。"
        return outcome + card

    def _card_kind(self) -> CardKind | None:
        return self._last_card_kind

    def _back_to_menu(self, now: float) -> list[Effect]:
        effects = self._stop_camera()
        self._op = None
        self._req += 1
        return effects + self._enter(Screen.MENU, now, None)

    def _error(
        self, kind: str, now: float, retry: Callable[[], list[Effect]] | None
    ) -> list[Effect]:
        self._error_kind = kind
        self._retry = retry
        voice = {
            "unreachable": "unreachable",
            "card": "card_error",
            "camera_failed": "camera_failed",
            "camera_help": "camera_help",
            "not_recognised": "not_recognised",
            "not_recognised_final": "failed_final",
        }[kind]
        return self._stop_camera() + self._enter(Screen.ERROR, now, voice)

    def _refused(self, reason: str, detail: str, now: float) -> list[Effect]:
        self._refusal = (reason, detail)
        voice = f"refused_{reason}" if f"refused_{reason}" in VOICE else "refused"
        return self._stop_camera() + self._enter(Screen.REFUSED, now, voice)

    # ------------------------------------------------------------ event handlers

    def _on_touch(self, now: float, corner: bool = False) -> list[Effect]:
        self._last_activity = now
        if self._idle_warned_at is not None:
            self._idle_warned_at = None
        if self.screen == Screen.ATTRACT and self._corner_tap(now, corner):
            return self._enter(Screen.TECH_PIN, now)
        if self.screen == Screen.ATTRACT:
            # someone touched the waiting screen: tell them, in words, what to do
            last = self._last_attract_voice
            if last is None or now - last >= self.config.guidance_voice_gap_s:
                self._last_attract_voice = now
                return [Speak("attract")]
        return []

    def _on_tick(self, now: float) -> list[Effect]:
        cfg = self.config
        if self._notice is not None and now >= self._notice[1]:
            self._notice = None
        # watchdogs of outstanding work
        if self._op is not None and now >= self._deadline:
            return self._on_watchdog(self._op, now)
        if self.screen in TECH_SCREENS:
            if self._op is None and now - self._last_activity >= cfg.tech_idle_s:
                return self._leave_tech(now)
            return []
        if self.screen == Screen.TAKE_CARD:
            if now - self._last_reminder >= cfg.take_card_reminder_s:
                self._last_reminder = now
                return [Speak(self._take_card_voice(), self._take_card_sentence())]
            return []
        if (
            self.screen in (Screen.CAMERA, Screen.IDENTIFY)
            and now - self._entered >= cfg.camera_guidance_timeout_s
        ):
            retry = (
                self._start_identify if self.screen == Screen.IDENTIFY else self._retry_challenge
            )
            return self._error("camera_help", now, retry=retry)
        if (
            self.screen == Screen.LIVENESS
            and self._s is not None
            and now - self._s.action_started >= cfg.liveness_action_timeout_s
        ):
            return self._on_liveness_failed(now)
        if self.screen in IDLE_SCREENS and self._s is not None:
            if self._idle_warned_at is None:
                if now - self._last_activity >= cfg.idle_warning_s:
                    self._idle_warned_at = now
                    self._help_open = False
                    return [Speak("idle")]
            elif now - self._idle_warned_at >= cfg.idle_grace_s:
                return self._end_session(now)
        return []

    def _on_watchdog(self, op: str, now: float) -> list[Effect]:
        self._op = None
        self._req += 1
        if op == "self_test":
            self._tech_results = ()  # no answer: the screen says the test did not finish
            return self._enter(Screen.TECH_TEST, now)
        if op == "read_card":
            return self._error("card", now, retry=None)
        if op in ("print_receipt", "print_statement"):
            return self._on_printer_fault("timeout", now)
        return self._error("unreachable", now, retry=self._retry)

    def _on_card_inserted(self, kind: CardKind, now: float) -> list[Effect]:
        self.card_present = True
        self._last_card_kind = kind
        if self.screen != Screen.ATTRACT:
            return []
        self._s = _Session(card_kind=kind)
        req = self._request("read_card", now, self.config.card_read_timeout_s)
        return [*self._enter(Screen.READING, now, "reading"), ReadCard(req, kind)]

    def _on_card_removed(self, now: float) -> list[Effect]:
        self.card_present = False
        if self.screen in TECH_SCREENS or (self.screen == Screen.ATTRACT and self._s is None):
            return []
        return self._end_session(now)

    def _on_card_read(self, card: CardInfo, now: float) -> list[Effect]:
        assert self._s is not None
        self._s.card = card
        if self.config.face_to_open_session:
            return self._start_identify()
        return self._open_session()

    def _start_identify(self) -> list[Effect]:
        """The camera, before anything personal is shown: the backend opens the resident
        session only for the card's holder (card + face)."""
        now = self._clock()
        self._op = None
        self._reset_guidance(now)
        self._camera_on = True
        return [StartCamera(), *self._enter(Screen.IDENTIFY, now, "identify")]

    def _open_session(self) -> list[Effect]:
        assert self._s is not None and self._s.card is not None
        now = self._clock()
        req = self._request("open_session", now, self.config.backend_timeout_s)
        self._retry = self._open_session
        effects = [] if self.screen == Screen.READING else self._enter(Screen.READING, now)
        photo = self.config.face_to_open_session
        return [*effects, OpenSession(req, self._s.card, with_photo=photo)]

    def _on_tap(self, button: str, now: float) -> list[Effect]:
        view = self.view()
        if button not in view.button_ids() and button not in ("lang", "repeat"):
            return []  # a stale tap for a button no longer shown
        if button == "lang":
            self.lang = "en" if self.lang == "zh" else "zh"
            return []
        if button == "repeat":  # "再说一遍": the screen's prompt again, word for word
            return [Speak(self._voice, self._voice_text)] if self._voice else []
        if button == "help":
            self._help_open = True
            return [Speak(self._help_key())]
        if button in ("help_close", "continue"):
            self._help_open = False
            self._idle_warned_at = None
            return []
        screen = self.screen
        s = self._s
        if screen in TECH_SCREENS:
            return self._on_tech_tap(button, now)
        if button == "back":
            return self._on_back(now)
        if screen == Screen.MENU and s is not None and s.resident is not None:
            return self._on_menu(button, s.resident, now)
        if button == "retry":
            if screen == Screen.ERROR and self._retry is not None:
                return self._retry()
            if screen == Screen.RESULT:
                return self._retry_challenge()
        if button in ("done", "end"):
            return self._end_session(now)
        return []

    def _on_back(self, now: float) -> list[Effect]:
        screen = self.screen
        has_resident = self._s is not None and self._s.resident is not None
        if screen in (Screen.ATTRACT, Screen.TAKE_CARD, Screen.SUBMITTING):
            return []
        if screen == Screen.PRINTING and self._print_kind == "certification":
            return []  # the result is in; the receipt is on its way
        if screen in (Screen.MENU, Screen.READING, Screen.PRINT_FAULT, Screen.IDENTIFY):
            return self._end_session(now)
        if screen == Screen.REFUSED and self._refusal[0] == "session_expired":
            return self._end_session(now)  # nothing more can be shown without a new session
        if (
            screen == Screen.RESULT
            and self._s is not None
            and self._s.result_kind
            in (
                "passed",
                "referred",
                "failed_final",
            )
        ):
            return self._end_session(now)
        if has_resident:
            return self._back_to_menu(now)
        return self._end_session(now)

    def _on_menu(self, button: str, resident: Resident, now: float) -> list[Effect]:
        cfg = self.config
        loaders: dict[str, type[LoadAccount | LoadContributions | LoadPayments]] = {
            "balance": LoadAccount,
            "contributions": LoadContributions,
            "payments": LoadPayments,
        }
        if button in loaders:
            effect_type = loaders[button]

            def load() -> list[Effect]:
                req = self._request("load", self._clock(), cfg.backend_timeout_s)
                self._loading_kind = button
                return [
                    *self._enter(Screen.LOADING, self._clock(), "loading"),
                    effect_type(req, resident),
                ]

            self._retry = load
            return load()
        if button == "certify":
            return self._retry_challenge()
        if button == "print":

            def print_statement() -> list[Effect]:
                req = self._request("print_statement", self._clock(), cfg.print_timeout_s)
                self._print_kind = "statement"
                return [
                    *self._enter(Screen.PRINTING, self._clock(), "printing"),
                    PrintStatement(req, resident),
                ]

            self._retry = print_statement
            return print_statement()
        return []

    # ------------------------------------------------------------ the technician menu

    def _corner_tap(self, now: float, corner: bool) -> bool:
        """Count the hidden entry's taps; True when they open the PIN pad. Any other touch,
        a slow tap or a locked entry starts the count again; without a PIN there is no menu."""
        cfg = self.config
        if not corner or not cfg.tech_pin or self.card_present or self._s is not None:
            self._corner_taps = []
            return False
        taps = [t0 for t0 in self._corner_taps if now - t0 <= cfg.tech_tap_window_s]
        taps.append(now)
        self._corner_taps = taps
        if len(taps) < cfg.tech_taps:
            return False
        self._corner_taps = []
        if now < self._tech_locked_until:
            return False
        self._pin = ""
        return True

    @property
    def tech_locked(self) -> bool:
        return self._clock() < self._tech_locked_until

    def _on_tech_tap(self, button: str, now: float) -> list[Effect]:
        screen = self.screen
        if screen == Screen.TECH_PIN:
            if button.startswith("pin_") and button[4:].isdigit():
                if len(self._pin) < PIN_MAX_DIGITS:
                    self._pin += button[4:]
                return []
            if button == "pin_del":
                self._pin = self._pin[:-1]
                return []
            if button == "pin_ok":
                return self._check_pin(now)
            if button == "back":
                return self._leave_tech(now)
            return []
        if button == "tech_selftest":
            req = self._request("self_test", now, self.config.tech_self_test_s)
            self._tech_results = None
            return [*self._enter(Screen.TECH_TEST, now), RunSelfTest(req)]
        if button == "back":
            if screen == Screen.TECH_TEST:
                self._op = None
                self._req += 1  # a late self-test answer is ignored
                return self._enter(Screen.TECH_MENU, now)
            return self._leave_tech(now)
        return []

    def _check_pin(self, now: float) -> list[Effect]:
        entered, self._pin = self._pin, ""
        # constant time: how much of the PIN was right never shows in the timing
        if hmac.compare_digest(entered.encode(), self.config.tech_pin.encode()):
            self._pin_failures = 0
            return self._enter(Screen.TECH_MENU, now)
        self._pin_failures += 1
        if self._pin_failures >= self.config.tech_max_pin_attempts:
            self._pin_failures = 0
            self._tech_locked_until = now + self.config.tech_lockout_s
            return self._leave_tech(now)
        return []

    def _leave_tech(self, now: float) -> list[Effect]:
        self._pin = ""
        self._tech_results = None
        return self._end_session(now)  # no session: attract, or take-card if a card is in

    def _tech_view(self, base: dict[str, Any]) -> ViewModel:
        cfg = self.config
        base = base | {"help": None}
        if self.screen == Screen.TECH_PIN:
            left = cfg.tech_max_pin_attempts - self._pin_failures
            digits = [Button(f"pin_{d}", Text(str(d), str(d))) for d in (*range(1, 10), 0)]
            return ViewModel(
                **base,
                title=t("tech_pin_title"),
                body=Text(*(("●" * len(self._pin) or "—",) * 2)),
                detail=t("tech_pin_body"),
                notice=t("tech_pin_wrong", n=left) if self._pin_failures else None,
                notice_icon="×",
                buttons=(
                    *digits,
                    Button("pin_del", t("btn_delete"), "←"),
                    Button("pin_ok", t("btn_ok_pin"), "√", primary=True),
                ),
            )
        if self.screen == Screen.TECH_MENU:
            orientation = "tech_portrait" if cfg.orientation == "portrait" else "tech_landscape"
            rows = (
                (t("tech_backend"), _value(cfg.backend_url)),
                (t("tech_device_id"), _value(cfg.device_id)),
                (t("tech_location"), _value(cfg.location)),
                (t("tech_orientation"), t(orientation)),
            )
            return ViewModel(
                **base | {"back": EXIT},
                title=t("tech_menu_title"),
                body=t("tech_menu_body"),
                rows=rows,
                buttons=(Button("tech_selftest", t("btn_selftest"), "↻", primary=True),),
            )
        # TECH_TEST
        results = self._tech_results
        if results is None:
            return ViewModel(
                **base,
                title=t("tech_test_title"),
                body=t("tech_testing"),
                busy=True,
                back_enabled=False,
            )
        faults = [r for r in results if not r.ok]
        test_rows: list[tuple[Text, Text]] = []
        for r in results:
            words = t(f"tech_fault_{r.code}" if f"tech_fault_{r.code}" in MSG else "tech_fault")
            if r.ok:
                words = t("tech_printed" if r.code == "printed" else "tech_ok")
            glyph = ICON["success"] if r.ok else ICON["error"]
            test_rows.append(
                (t(f"tech_dev_{r.device}"), Text(f"{glyph} {words.zh}", f"{glyph} {words.en}"))
            )
        if not results:
            body, tone = t("tech_test_unfinished"), "error"
        elif faults:
            body, tone = t("tech_test_faults", n=len(faults)), "error"
        else:
            body, tone = t("tech_test_all_ok"), "success"
        return ViewModel(
            **base,
            title=t("tech_test_title"),
            body=body,
            rows=tuple(test_rows),
            tone=tone,
            icon=ICON[tone],
            buttons=(Button("tech_selftest", t("btn_selftest_again"), "↻", primary=True),),
        )

    # ------------------------------------------------------------ certification

    def _retry_challenge(self) -> list[Effect]:
        s = self._s
        if s is None or s.resident is None:
            return []
        resident = s.resident
        now = self._clock()
        req = self._request("challenge", now, self.config.backend_timeout_s)
        self._retry = self._retry_challenge
        self._loading_kind = "challenge"
        return [*self._enter(Screen.LOADING, now, "loading"), RequestChallenge(req, resident)]

    def _start_camera(self, challenge: Challenge, now: float) -> list[Effect]:
        assert self._s is not None
        self._s.challenge = challenge
        self._s.action_index = 0
        self._s.action_timings = []
        self._reset_guidance(now)
        self._camera_on = True
        return [StartCamera(), *self._enter(Screen.CAMERA, now, "camera")]

    def _reset_guidance(self, now: float) -> None:
        self._steady = 0
        self._guide_key = "camera_body"
        self._guide_text = None
        self._last_guide_voice = ("camera", now)  # the screen's own prompt was just spoken

    def _on_frame(self, verdict: QualityVerdict, now: float) -> list[Effect]:
        if self.screen not in (Screen.CAMERA, Screen.LIVENESS, Screen.IDENTIFY):
            return []
        if verdict.face_found:
            self._last_activity = now  # a face at the camera is someone still there
            self._idle_warned_at = None
        if self.screen == Screen.LIVENESS:
            return []
        cfg = self.config
        if verdict.ok:
            self._steady += 1
            self._guide_key, self._guide_text = "guide_hold", None
            if self._steady >= cfg.steady_frames:
                if self.screen == Screen.IDENTIFY:
                    return [CaptureFace(), *self._stop_camera(), *self._open_session()]
                s = self._s
                assert s is not None and s.challenge is not None
                return [CaptureFace(s.challenge.actions), *self._begin_action(0, now)]
            return self._guide_voice("guide_hold", now)
        self._steady = 0
        key = GUIDE_FOR_REASON.get(verdict.reason or "")
        if key is None and not verdict.face_found:
            key = "guide_no_face"
        if key is not None:
            self._guide_key, self._guide_text = key, None
            return self._guide_voice(key, now)
        # a reason we have no words of our own for: show the quality gate's prompt
        self._guide_key = "camera_body"
        if verdict.prompt_zh:
            self._guide_text = Text(verdict.prompt_zh, verdict.prompt_en or verdict.prompt_zh)
        return []

    def _guide_voice(self, key: str, now: float) -> list[Effect]:
        last = self._last_guide_voice
        if last is not None:
            gap = (
                self.config.guidance_repeat_s
                if last[0] == key
                else self.config.guidance_voice_gap_s
            )
            if now - last[1] < gap:
                return []
        self._last_guide_voice = (key, now)
        self._voice = key
        return [Speak(key)]

    def _begin_action(self, index: int, now: float) -> list[Effect]:
        s = self._s
        assert s is not None and s.challenge is not None
        s.action_index = index
        s.action_started = now
        action = s.challenge.actions[index]
        key = f"action_{action}" if action in KNOWN_ACTIONS else "action_unknown"
        return [WatchAction(action), *self._enter(Screen.LIVENESS, now, key)]

    def _on_action(self, action: str, now: float) -> list[Effect]:
        s = self._s
        if self.screen != Screen.LIVENESS or s is None or s.challenge is None:
            return []
        if action != s.challenge.actions[s.action_index]:
            return []
        s.action_timings.append(round(now - s.action_started, 3))
        if s.action_index + 1 < len(s.challenge.actions):
            return self._begin_action(s.action_index + 1, now)
        s.submit_key = f"{s.challenge.challenge_id}-{self._new_id()}"
        return self._stop_camera() + self._submit()

    def _submit(self) -> list[Effect]:
        s = self._s
        assert s is not None and s.resident is not None and s.challenge is not None
        now = self._clock()
        evidence = LivenessEvidence(
            challenge_id=s.challenge.challenge_id,
            nonce=s.challenge.nonce,
            actions_done=s.challenge.actions,
            timings_s=tuple(s.action_timings),
        )
        req = self._request("submit", now, self.config.backend_timeout_s)
        self._retry = self._submit  # same idempotency key: never certifies twice
        return [
            *self._enter(Screen.SUBMITTING, now, "submitting"),
            Submit(req, s.resident, evidence, s.submit_key),
        ]

    def _on_liveness_failed(self, now: float) -> list[Effect]:
        assert self._s is not None
        self._s.attempts += 1
        final = self._s.attempts >= self.config.max_face_attempts
        self._s.result_kind = "failed_final" if final else "liveness_failed"
        return self._stop_camera() + self._enter(
            Screen.RESULT, now, "failed_final" if final else "liveness_failed"
        )

    def _on_result(self, result: CertificationResult, now: float) -> list[Effect]:
        s = self._s
        assert s is not None
        s.result = result
        if result.outcome == "failed":
            s.attempts += 1
            final = s.attempts >= self.config.max_face_attempts
            s.result_kind = "failed_final" if final else "failed"
            return self._enter(Screen.RESULT, now, s.result_kind)
        if result.outcome not in ("passed", "referred"):
            return self._refused("other", f"outcome {result.outcome!r}", now)
        s.result_kind = result.outcome
        passed = result.outcome == "passed"
        if result.receipt is None:
            spoken = spoken_passed(result.valid_until) if passed else None
            return self._enter(Screen.RESULT, now, result.outcome, spoken)
        content = self._receipt_content(s, result)
        req = self._request("print_receipt", now, self.config.print_timeout_s)
        self._print_kind = "certification"
        self._retry = None
        spoken = spoken_passed(result.valid_until, "正在打印凭条。") if passed else None
        effects = self._enter(Screen.PRINTING, now, f"{result.outcome}_printing", spoken)
        return [*effects, PrintReceipt(req, content)]

    def _receipt_content(self, s: _Session, result: CertificationResult) -> ReceiptContent:
        assert s.resident is not None and result.receipt is not None
        outcome_zh = {"passed": "认证成功", "referred": "已提交审核"}[result.outcome]
        lines = [
            f"姓名：{s.resident.name_masked}",
            f"证件号：{s.resident.id_number_masked}",
            f"结果：{outcome_zh}",
        ]
        if result.valid_until is not None:
            lines.append(f"有效期至：{result.valid_until.isoformat()}")
        lines.append(f"凭条号：{result.receipt.receipt_id}")
        return ReceiptContent(
            title="城乡居民养老保险 生存认证凭条",
            lines=tuple(lines),
            qr_code=result.receipt.code,
        )

    def _on_printed(self, now: float) -> list[Effect]:
        if self._print_kind == "statement":
            self._notice = (t("statement_printed"), now + self.config.notice_s)
            return self._enter(Screen.MENU, now, "statement_printed")
        if self._s is not None:
            self._s.printed_receipt = True
        return self._end_session(now)

    def _on_printer_fault(self, kind: str, now: float) -> list[Effect]:
        self._printer_fault = kind
        if self._print_kind == "statement":
            key = "statement_paper_out" if kind == "out_of_paper" else "printer_fault_title"
            self._notice = (t(key), now + self.config.notice_s)
            voice = "paper_out" if kind == "out_of_paper" else "printer_fault"
            return self._enter(Screen.MENU, now, voice)
        voice = "paper_out" if kind == "out_of_paper" else "printer_fault"
        return self._enter(Screen.PRINT_FAULT, now, voice)

    # ------------------------------------------------------------ the view

    def view(self) -> ViewModel:
        v = self._base_view()
        overlay = None
        if self._idle_warned_at is not None:
            overlay = Overlay(
                "idle",
                t("idle_title"),
                t("idle_body", n=self._idle_seconds_left()),
                (Button("continue", t("btn_continue"), "→", primary=True),),
                "idle",
            )
        elif self._help_open:
            overlay = Overlay(
                "help",
                t("help_title"),
                Text(*_join(MSG[self._help_key()], MSG["help_staff"])),
                (Button("help_close", t("btn_ok"), "√", primary=True),),
                self._help_key(),
            )
        notice = v.notice
        if notice is None and self._notice is not None and v.screen == Screen.MENU:
            notice = self._notice[0]
        return replace(
            v,
            overlay=overlay,
            notice=notice,
            lang=self.lang,
            simulate=self.simulate,
            voice=self._voice,
        )

    def _idle_seconds_left(self) -> int:
        if self._idle_warned_at is None:
            return 0
        left = self.config.idle_grace_s - (self._clock() - self._idle_warned_at)
        return max(0, math.ceil(left))

    def _help_key(self) -> str:
        return {
            Screen.ATTRACT: "help_attract",
            Screen.MENU: "help_menu",
            Screen.CAMERA: "help_camera",
            Screen.IDENTIFY: "help_camera",
            Screen.LIVENESS: "help_liveness",
            Screen.READING: "help_wait",
            Screen.LOADING: "help_wait",
            Screen.SUBMITTING: "help_wait",
            Screen.PRINTING: "help_wait",
        }.get(self.screen, "help_generic")

    def _result_view(self, s: _Session) -> tuple[str, str, Text, Text]:
        """tone, icon, title, body of the outcome."""
        kind = s.result_kind
        r = s.result
        if kind == "passed":
            body = (
                t("passed_body", until=_date_text(r.valid_until))
                if r is not None and r.valid_until is not None
                else t("passed_body_nodate")
            )
            return "success", ICON["success"], t("passed_title"), body
        if kind == "referred":
            return "warning", ICON["warning"], t("referred_title"), t("referred_body")
        if kind == "liveness_failed":
            return "error", ICON["error"], t("liveness_failed_title"), t("liveness_failed_body")
        if kind == "failed_final":
            n = s.attempts
            return "error", ICON["error"], t("failed_title"), t("failed_final_body", n=n)
        return "error", ICON["error"], t("failed_title"), t("failed_body")

    def _base_view(self) -> ViewModel:
        screen = self.screen
        s = self._s
        lang = self.lang
        base: dict[str, Any] = {"screen": screen, "lang": lang, "back": BACK, "help": HELP}
        if screen in TECH_SCREENS:
            return self._tech_view(base)
        if screen == Screen.ATTRACT:
            return ViewModel(
                **base | {"back": None},
                title=t("attract_title"),
                body=t("attract_body"),
                picture="insert_card",
            )
        if screen == Screen.READING:
            looking_up = s is not None and s.card is not None
            return ViewModel(
                **base,
                title=t("reading_title"),
                body=t("looking_up_body") if looking_up else t("reading_body"),
                busy=True,
                back_enabled=False,
            )
        if screen == Screen.TAKE_CARD:
            id_card = self._card_kind() == CardKind.ID_CARD
            receipt = self._take_card_receipt
            # after a failure the screen must not say "办完了" (all done)
            failed = self._take_card_outcome in ("failed", "liveness_failed", "failed_final")
            return ViewModel(
                **base | {"back": None},
                title=t("take_id_title") if id_card else t("take_card_title"),
                body=t(
                    ("take_id_body" if id_card else "take_card_body")
                    + ("_failed" if failed else "" if receipt else "_noreceipt")
                ),
                picture="take_card",
            )
        if screen == Screen.ERROR:
            return self._error_view(base)
        if screen == Screen.REFUSED:
            reason, detail = self._refusal
            key = f"refused_{reason}" if f"refused_{reason}" in MSG else "refused_other"
            return ViewModel(
                **base,
                title=t("refused_title"),
                body=t(key),
                detail=Text(detail, detail) if detail else None,
                tone="warning",
                icon=ICON["warning"],
            )
        if screen == Screen.IDENTIFY:
            return ViewModel(
                **base,
                title=t("identify_title"),
                body=self._guide_text or t(self._guide_key),
                detail=t("identify_detail"),
                show_camera=True,
                tone="success" if self._guide_key == "guide_hold" else "info",
            )
        assert s is not None and s.resident is not None, screen
        resident = s.resident
        if screen == Screen.MENU:
            return self._menu_view(base, resident)
        if screen == Screen.LOADING:
            title = t("camera_title") if self._loading_kind == "challenge" else t("loading_title")
            body = t("challenge_body") if self._loading_kind == "challenge" else t("loading_body")
            return ViewModel(**base, title=title, body=body, busy=True)
        if screen == Screen.BALANCE:
            a = s.account
            assert a is not None
            rows = tuple(
                (t(f"bucket_{name}"), t("balance_body", amount=format_yuan(fen)))
                for name, fen in (
                    ("personal", a.personal_fen),
                    ("government", a.government_fen),
                    ("collective", a.collective_fen),
                    ("other", a.other_fen),
                )
                if fen or name in ("personal", "government")
            )
            return ViewModel(
                **base,
                title=t("balance_title"),
                body=t("balance_body", amount=format_yuan(a.balance_fen)),
                rows=rows,
            )
        if screen == Screen.CONTRIBUTIONS:
            items = sorted(s.contributions, key=lambda c: c.year, reverse=True)
            items = items[: self.config.history_rows]
            rows = tuple(
                (
                    t("contribution_row", year=c.year),
                    t(
                        "contribution_value",
                        personal=format_yuan(c.personal_fen),
                        government=format_yuan(c.government_fen),
                    ),
                )
                for c in items
            )
            return ViewModel(
                **base,
                title=t("contributions_title"),
                body=t("contributions_empty") if not rows else Text("", ""),
                rows=rows,
            )
        if screen == Screen.PAYMENTS:
            items_p = sorted(s.payments, key=lambda p: p.period, reverse=True)
            items_p = items_p[: self.config.history_rows]
            rows = tuple(
                (
                    t("payment_row", year=p.period[:4], month=int(p.period[5:7])),
                    t(
                        "payment_value_arrears" if p.arrears_fen else "payment_value",
                        amount=format_yuan(p.total_fen),
                    ),
                )
                for p in items_p
            )
            return ViewModel(
                **base,
                title=t("payments_title"),
                body=t("payments_empty") if not rows else Text("", ""),
                rows=rows,
            )
        if screen == Screen.CAMERA:
            body = self._guide_text or t(self._guide_key)
            return ViewModel(
                **base,
                title=t("camera_title"),
                body=body,
                show_camera=True,
                tone="success" if self._guide_key == "guide_hold" else "info",
            )
        if screen == Screen.LIVENESS:
            assert s.challenge is not None
            action = s.challenge.actions[s.action_index]
            key = f"action_{action}" if action in KNOWN_ACTIONS else "action_unknown"
            total = len(s.challenge.actions)
            return ViewModel(
                **base,
                title=t("liveness_title", step=s.action_index + 1, total=total),
                body=t(key),
                detail=Text(
                    *(
                        (
                            "  ".join(
                                "●" * (s.action_index + 1) + "○" * (total - s.action_index - 1)
                            ),
                        )
                        * 2
                    )
                ),
                show_camera=True,
                progress=(s.action_index + 1, total),
            )
        if screen == Screen.SUBMITTING:
            return ViewModel(
                **base,
                title=t("submitting_title"),
                body=t("submitting_body"),
                busy=True,
                back_enabled=False,
            )
        if screen == Screen.PRINTING and self._print_kind == "statement":
            return ViewModel(**base, title=t("printing_title"), body=t("printing_body"), busy=True)
        tone, icon, headline, explanation = self._result_view(s)
        result: dict[str, Any] = {
            "title": t("result_title"),
            "body": headline,
            "detail": explanation,
            "tone": tone,
            "icon": icon,
        }
        if screen == Screen.PRINTING:
            printing = t("printing_body")
            printing_detail = Text(
                explanation.zh + "\n" + printing.zh + "……",
                explanation.en + "\n" + printing.en + "...",
            )
            return ViewModel(**base, **result | {"detail": printing_detail}, back_enabled=False)
        if screen == Screen.PRINT_FAULT:
            fault = "paper_out" if self._printer_fault == "out_of_paper" else "printer_fault"
            title_zh, title_en = MSG[f"{fault}_title"]
            body_zh, body_en = MSG["paper_out_body"]
            notice = Text(f"{title_zh}。{body_zh}", f"{title_en}. {body_en}")
            return ViewModel(
                **base,
                **result,
                notice=notice,
                notice_icon="！",
                buttons=(Button("done", t("btn_done"), "√", primary=True),),
            )
        # RESULT
        if s.result_kind in ("failed", "liveness_failed"):
            buttons: tuple[Button, ...] = (
                Button("retry", t("btn_retry"), "↻", primary=True),
                Button("end", t("btn_end"), "×"),
            )
        else:
            buttons = (Button("done", t("btn_done"), "√", primary=True),)
        return ViewModel(**base, **result, buttons=buttons)

    def _menu_view(self, base: dict[str, Any], resident: Resident) -> ViewModel:
        pensioner = resident.status in PENSIONER_STATUSES
        # a backend that does not say the status: offer certification, it will refuse if
        # the person draws no pension
        may_certify = pensioner or resident.status == "unknown"
        status: Text | None = None
        if pensioner:
            if resident.certification_due or resident.certification_valid_until is None:
                status = t("menu_due")
            else:
                status = t("menu_valid", until=_date_text(resident.certification_valid_until))
        buttons = [
            Button("balance", t("btn_balance"), "¥"),
            Button("contributions", t("btn_contributions"), "≡"),
            Button("payments", t("btn_payments"), "≡"),
            Button("print", t("btn_print"), "▤"),
        ]
        if may_certify:
            buttons.insert(0, Button("certify", t("btn_certify"), "◎", primary=True))
        return ViewModel(
            **base | {"back": EXIT},
            title=t("menu_title", name=resident.name_masked),
            body=t("menu_body"),
            detail=status,
            tone="warning" if pensioner and resident.certification_due else "info",
            buttons=tuple(buttons),
        )

    def _error_view(self, base: dict[str, Any]) -> ViewModel:
        kind = self._error_kind
        title, body = {
            "unreachable": ("unreachable_title", "unreachable_body"),
            "card": ("card_error_title", "card_error_body"),
            "camera_failed": ("camera_failed_title", "camera_failed_body"),
            "camera_help": ("camera_help_title", "camera_help_body"),
            "not_recognised": ("failed_title", "not_recognised_body"),
            "not_recognised_final": ("failed_title", "failed_final_body"),
        }[kind]
        n = self._s.attempts if self._s is not None else 0
        buttons: tuple[Button, ...] = ()
        if self._retry is not None:
            buttons = (Button("retry", t("btn_retry"), "↻", primary=True),)
        return ViewModel(
            **base,
            title=t(title),
            body=t(body, n=n),
            tone="error",
            icon=ICON["error"] if kind != "camera_help" else ICON["warning"],
            buttons=buttons,
        )


def _date_text(d: date) -> Text:
    return Text(f"{d.year}年{d.month}月{d.day}日", d.isoformat())


def _value(value: str) -> Text:
    return Text(value, value) if value else t("tech_not_set")


def _join(a: tuple[str, str], b: tuple[str, str]) -> tuple[str, str]:
    return a[0] + "\n" + b[0], a[1] + "\n" + b[1]
