"""The flow's state and the helpers every part of it uses (entering a screen, requests,
ending a session).

Personal data (card, resident, figures, images) lives only in `Session`, for one session: every
way out of a session goes through `_end_session`, which drops it and tells the runner to forget
it too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from kiosk_app.config import KioskConfig
from kiosk_app.flow.effects import Effect, EndSession, Speak, StopCamera
from kiosk_app.flow.events import CheckResult
from kiosk_app.flow.model import Screen
from kiosk_app.models import (
    AccountSummary,
    CardInfo,
    CardKind,
    CertificationResult,
    Challenge,
    Contribution,
    Payment,
    Resident,
)
from kiosk_app.texts import TAKE_CARD_OUTCOME, VOICE, Text


@dataclass
class Session:
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
    # failed attempts in this session, by cause: the face did not match (the backend counts
    # these per day) or the liveness actions were not seen (the kiosk's own timeout)
    face_failures: int = 0
    liveness_failures: int = 0
    result: CertificationResult | None = None
    result_kind: str = ""  # passed | referred | failed | failed_final | liveness_failed[_final]
    submit_key: str = ""
    printed_receipt: bool = False


class FlowCore:
    """The state and the shared helpers; the parts of the flow build on it."""

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
        self._s: Session | None = None
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
        # the outcome kept on screen after the session ends (no personal data: kind, date)
        self._outcome: tuple[str, date | None] | None = None
        self._result_at = 0.0  # when the certification's result was first shown
        self._outcome_until = 0.0
        self._staff_notice: tuple[Text, float] | None = None  # "staff are coming", until
        self._staff_sent_until = 0.0  # a help request is out: taps until then send no other
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

    def _resident_missing(self) -> bool:
        return self._s is not None and self._s.resident is None

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
        self._keep_outcome(now)
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

    def _keep_outcome(self, now: float) -> None:
        """The result outlives the session on screen: on the take-card screen until the card
        is taken, on the attract screen until `result_min_s` after it was first shown."""
        s = self._s
        if s is None:
            return  # the card taken from the take-card screen: the outcome stays its time
        if not s.result_kind:
            self._outcome = None
            return
        until = s.result.valid_until if s.result is not None else None
        self._outcome = (s.result_kind, until)
        self._outcome_until = max(now, self._result_at + self.config.result_min_s)

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
        text = None
        if kind == "camera_help" and self._guide_key.startswith("guide_"):
            text = VOICE.get(self._guide_key, "") + VOICE["camera_help"]
        return self._stop_camera() + self._enter(Screen.ERROR, now, voice, text)

    def _refused(self, reason: str, detail: str, now: float) -> list[Effect]:
        self._refusal = (reason, detail)
        voice = f"refused_{reason}" if f"refused_{reason}" in VOICE else "refused"
        return self._stop_camera() + self._enter(Screen.REFUSED, now, voice)
