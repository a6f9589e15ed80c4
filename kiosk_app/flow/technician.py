"""The hidden technician menu: five taps in the attract screen's corner, a PIN, the kiosk's
configuration and the device self-test."""

from __future__ import annotations

import hmac
from typing import Any

from kiosk_app.flow.effects import Effect, RunSelfTest
from kiosk_app.flow.model import (
    EXIT,
    ICON,
    PIN_MAX_DIGITS,
    Button,
    Screen,
    ViewModel,
    value_text,
)
from kiosk_app.flow.state import FlowCore
from kiosk_app.texts import MSG, Text, t


class TechnicianFlow(FlowCore):
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
                (t("tech_backend"), value_text(cfg.backend_url)),
                (t("tech_device_id"), value_text(cfg.device_id)),
                (t("tech_location"), value_text(cfg.location)),
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
