"""The view: what each screen shows now, built from the state (no Kivy here)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from kiosk_app.flow.certification import CertificationFlow
from kiosk_app.flow.model import (
    BACK,
    EXIT,
    HELP,
    ICON,
    PENSIONER_STATUSES,
    STAFF,
    TECH_SCREENS,
    Button,
    Overlay,
    Screen,
    ViewModel,
    date_text,
    join_texts,
)
from kiosk_app.flow.state import Session
from kiosk_app.models import CardKind, Resident, format_yuan
from kiosk_app.texts import GUIDE_FOR_REASON, KNOWN_ACTIONS, MSG, Text, t

# the guidance that names a cause (not "hold still", not the bare "put your face in the frame")
GUIDE_KEYS = set(GUIDE_FOR_REASON.values()) - {"guide_no_face"}


class ViewsFlow(CertificationFlow):
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
                Text(*join_texts(MSG[self._help_key()], MSG["help_staff"])),
                (Button("help_close", t("btn_ok"), "√", primary=True),),
                self._help_key(),
                staff=STAFF,
            )
        notice = v.notice
        if notice is None and self._notice is not None and v.screen == Screen.MENU:
            notice = self._notice[0]
        if self._staff_notice is not None and self._clock() < self._staff_notice[1]:
            notice = self._staff_notice[0]
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

    def _countdown(self, s: Session) -> int:
        left = self._action_seconds(s) - (self._clock() - s.action_started)
        return max(0, math.ceil(left))

    def _outcome_passed(self) -> bool:
        return self._outcome is not None and self._outcome[0] == "passed"

    def _outcome_text(self) -> Text | None:
        """The result of the session just ended, kept on the next screen: "认证成功 · 有效期到…"."""
        if self._outcome is None:
            return None
        kind, until = self._outcome
        if kind == "passed":
            head = t("passed_title")
            if until is None:
                return head
            tail = t("passed_body", until=date_text(until))
            return Text(f"{head.zh} · {tail.zh}", f"{head.en} · {tail.en}")
        if kind == "referred":
            return t("referred_title")
        return t("take_card_outcome_failed")

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

    def _result_view(self, s: Session) -> tuple[str, str, Text, Text]:
        """tone, icon, title, body of the outcome."""
        kind = s.result_kind
        r = s.result
        if kind == "passed":
            body = (
                t("passed_body", until=date_text(r.valid_until))
                if r is not None and r.valid_until is not None
                else t("passed_body_nodate")
            )
            return "success", ICON["success"], t("passed_title"), body
        if kind == "referred":
            return "warning", ICON["warning"], t("referred_title"), t("referred_body")
        if kind == "liveness_failed":
            return "error", ICON["error"], t("liveness_failed_title"), t("liveness_failed_body")
        if kind == "liveness_failed_final":
            n = s.liveness_failures
            body = t("liveness_final_body", n=n)
            return "error", ICON["error"], t("liveness_failed_title"), body
        if kind == "failed_final":
            n = s.face_failures
            # the backend opened a review case with the day's last failure: staff will call
            return "error", ICON["error"], t("failed_title"), t("failed_final_case_body", n=n)
        return "error", ICON["error"], t("failed_title"), t("failed_body")

    def _base_view(self) -> ViewModel:
        screen = self.screen
        s = self._s
        lang = self.lang
        base: dict[str, Any] = {"screen": screen, "lang": lang, "back": BACK, "help": HELP}
        if screen in TECH_SCREENS:
            return self._tech_view(base)
        if screen == Screen.ATTRACT:
            kept = self._outcome_text() if self._clock() < self._outcome_until else None
            return ViewModel(
                **base | {"back": None},
                title=t("attract_title"),
                body=t("attract_body"),
                picture="insert_card",
                notice=kept,
                notice_icon=ICON["success"] if self._outcome_passed() else ICON["warning"],
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
            failed = self._take_card_outcome in (
                "failed",
                "liveness_failed",
                "failed_final",
                "liveness_failed_final",
            )
            return ViewModel(
                **base | {"back": None},
                title=t("take_id_title") if id_card else t("take_card_title"),
                body=t(
                    ("take_id_body" if id_card else "take_card_body")
                    + ("_failed" if failed else "" if receipt else "_noreceipt")
                ),
                picture="take_card",
                detail=self._outcome_text(),
                tone="success" if self._outcome_passed() else "info",
                icon=ICON["success"] if self._outcome_passed() else "",
            )
        if screen == Screen.ERROR:
            return self._error_view(base)
        if screen == Screen.REFUSED:
            # the words come from the code; the backend's own note is shown (for the staff
            # who help) only when it is Chinese: an English message never reaches the screen
            reason, detail = self._refusal
            key = f"refused_{reason}" if f"refused_{reason}" in MSG else "refused_other"
            return ViewModel(
                **base,
                title=t("refused_title"),
                body=t(key),
                detail=Text(detail, detail) if _chinese(detail) else None,
                tone="warning",
                icon=ICON["warning"],
                buttons=(STAFF,),
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
                demo=action if action in KNOWN_ACTIONS else "",
                countdown=self._countdown(s),
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
                buttons=(Button("done", t("btn_done"), "√", primary=True), STAFF),
            )
        # RESULT; a failure offers 请工作人员帮忙 on the screen itself
        if s.result_kind in ("failed", "liveness_failed"):
            buttons: tuple[Button, ...] = (
                Button("retry", t("btn_retry"), "↻", primary=True),
                Button("end", t("btn_end"), "×"),
                STAFF,
            )
        elif s.result_kind in ("failed_final", "liveness_failed_final"):
            buttons = (Button("done", t("btn_done"), "√", primary=True), STAFF)
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
                status = t("menu_valid", until=date_text(resident.certification_valid_until))
        # the common case first: certification when it is due, else the balance (and
        # certification, already done, last and plain)
        due = may_certify and (resident.certification_due or not pensioner)
        buttons = [
            Button("balance", t("btn_balance"), "¥", primary=not due),
            Button("contributions", t("btn_contributions"), "≡"),
            Button("payments", t("btn_payments"), "≡"),
            Button("print", t("btn_print"), "▤"),
        ]
        if due:
            buttons.insert(0, Button("certify", t("btn_certify"), "◎", primary=True))
        elif may_certify:
            buttons.append(Button("certify", t("btn_certify"), "◎"))
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
        n = self._s.face_failures if self._s is not None else 0
        buttons: tuple[Button, ...] = (STAFF,)
        if self._retry is not None:
            buttons = (Button("retry", t("btn_retry"), "↻", primary=True), STAFF)
        text = t(body, n=n)
        if kind == "camera_help" and self._guide_key in GUIDE_KEYS:
            # the cause the camera saw last (poor light, too far…) stays with the advice
            text = Text(*join_texts(MSG[self._guide_key], MSG[body]))
        return ViewModel(
            **base,
            title=t(title),
            body=text,
            tone="error",
            icon=ICON["error"] if kind != "camera_help" else ICON["warning"],
            buttons=buttons,
        )


def _chinese(words: str) -> bool:
    """Words for a Chinese reader: Han characters and no Latin letters."""
    return bool(re.search(r"[\u4e00-\u9fff]", words)) and not re.search(r"[A-Za-z]", words)
