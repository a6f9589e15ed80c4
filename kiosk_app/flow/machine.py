"""The kiosk's flow: events in, effects out; the dispatcher of touches, ticks, cards and the
answers to requests."""

from __future__ import annotations

from kiosk_app.flow.effects import (
    CallStaff,
    Effect,
    LoadAccount,
    LoadContributions,
    LoadPayments,
    PrintStatement,
    ReadCard,
    Speak,
)
from kiosk_app.flow.events import (
    AccountLoaded,
    ActionDetected,
    BackendRefused,
    BackendUnreachable,
    CameraFailed,
    CardInserted,
    CardRead,
    CardReadFailed,
    CardRemoved,
    CertificationDone,
    ChallengeIssued,
    ContributionsLoaded,
    Event,
    FrameAssessed,
    PaymentsLoaded,
    PrintDone,
    PrinterFault,
    SelfTestDone,
    SessionOpened,
    StaffCalled,
    Tap,
    Tick,
    Touch,
)
from kiosk_app.flow.model import IDLE_SCREENS, PENSIONER_STATUSES, TECH_SCREENS, Screen
from kiosk_app.flow.refusals import refusal_for
from kiosk_app.flow.state import Session
from kiosk_app.flow.views import ViewsFlow
from kiosk_app.models import CardInfo, CardKind, Resident
from kiosk_app.texts import t


class KioskFlow(ViewsFlow):
    """The whole flow; `handle(event)` is its one entry, `view()` what the screen shows."""

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
            case StaffCalled(ok=ok):
                return self._on_staff_called(ok, now)
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
            case BackendRefused(reason=code, detail=detail):
                refusal = refusal_for(code)
                if refusal == "not_recognised" and self._resident_missing():
                    return self._not_recognised(now)
                return self._refused(refusal, detail, now)
        return []

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
            and now - self._s.action_started >= self._action_seconds(self._s)
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
        self._s = Session(card_kind=kind)
        self._outcome = None  # the last person's result goes when the next one comes
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

    def _on_tap(self, button: str, now: float) -> list[Effect]:
        view = self.view()
        staff_shown = view.overlay is not None and view.overlay.staff is not None
        # under the help text, or on a failure screen itself (the same request)
        staff_shown = staff_shown or (view.overlay is None and "call_staff" in view.button_ids())
        if button == "call_staff" and staff_shown:
            return self._call_staff(now)
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

    def _call_staff(self, now: float) -> list[Effect]:
        """请工作人员帮忙: the help text closes, a notice says staff are told, the console
        lists the request (no personal data: the kiosk and the screen)."""
        screen = str(self.screen)
        self._help_open = False
        self._staff_notice = (t("staff_calling"), now + self.config.notice_s)
        if now < self._staff_sent_until:  # a second tap: the staff are already told
            return [Speak("staff_called")]
        self._staff_sent_until = now + self.config.notice_s
        return [CallStaff(screen), Speak("staff_called")]

    def _on_staff_called(self, ok: bool, now: float) -> list[Effect]:
        if ok:
            return []
        self._staff_sent_until = 0.0  # not told: the next tap tries again
        self._staff_notice = (t("staff_not_reached"), now + self.config.notice_s)
        return [Speak("staff_not_reached")]

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
                "liveness_failed_final",
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
