"""Certification: identify at the camera, the quality gate's guidance, the liveness actions,
the submission, the result and its receipt."""

from __future__ import annotations

from urllib.parse import quote

from kiosk_app.flow.effects import (
    CaptureFace,
    Effect,
    OpenSession,
    PrintReceipt,
    RequestChallenge,
    Speak,
    StartCamera,
    Submit,
    WatchAction,
)
from kiosk_app.flow.model import Screen
from kiosk_app.flow.state import Session
from kiosk_app.flow.technician import TechnicianFlow
from kiosk_app.models import (
    CertificationResult,
    Challenge,
    LivenessEvidence,
    QualityVerdict,
    ReceiptContent,
)
from kiosk_app.texts import (
    GUIDE_FOR_REASON,
    KNOWN_ACTIONS,
    Text,
    spoken_final_failure,
    spoken_passed,
    t,
)


class CertificationFlow(TechnicianFlow):
    def _not_recognised(self, now: float) -> list[Effect]:
        """The face did not match the card's holder when opening the session."""
        assert self._s is not None
        self._s.face_failures += 1
        if self._s.face_failures >= self.config.max_face_attempts:
            return self._error("not_recognised_final", now, retry=None)
        return self._error("not_recognised", now, retry=self._start_identify)

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

    def _action_seconds(self, s: Session) -> float:
        """The time per action: the county's (sent with the challenge), else the kiosk's."""
        given = s.challenge.seconds_per_action if s.challenge is not None else None
        return given or self.config.liveness_action_timeout_s

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
        # the actions were not seen: never "not recognised", the face was not compared
        self._s.liveness_failures += 1
        final = self._s.liveness_failures >= self.config.max_face_attempts
        self._result_at = now
        kind = "liveness_failed_final" if final else "liveness_failed"
        self._s.result_kind = kind
        return self._stop_camera() + self._enter(Screen.RESULT, now, kind)

    def _on_result(self, result: CertificationResult, now: float) -> list[Effect]:
        s = self._s
        assert s is not None
        s.result = result
        self._result_at = now
        if result.outcome == "failed":
            s.face_failures += 1
            final = s.face_failures >= self.config.max_face_attempts
            s.result_kind = "failed_final" if final else "failed"
            # the day's last failure: the backend has opened a review case, staff will call
            said = spoken_final_failure(s.face_failures) if final else None
            return self._enter(Screen.RESULT, now, s.result_kind, said)
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

    def _receipt_content(self, s: Session, result: CertificationResult) -> ReceiptContent:
        assert s.resident is not None and result.receipt is not None
        cfg = self.config
        outcome_zh = {"passed": "认证成功", "referred": "已提交审核"}[result.outcome]
        lines = [
            f"姓名：{s.resident.name_masked}",
            f"证件号：{s.resident.id_number_masked}",
            f"结果：{outcome_zh}",
        ]
        if result.valid_until is not None:
            lines.append(f"有效期至：{result.valid_until.isoformat()}")
        lines.append(f"凭条号：{result.receipt.receipt_id}")
        extra = {"header": cfg.centre_name} if cfg.centre_name else {}
        if cfg.centre_phone:
            extra["footer"] = f"咨询电话：{cfg.centre_phone}"
        return ReceiptContent(
            title="城乡居民养老保险 生存认证凭条",
            lines=tuple(lines),
            qr_code=self._verify_url(result.receipt.code),
            extra=extra,
        )

    def _verify_url(self, code: str) -> str:
        """What the QR code holds: the county's page that verifies the receipt, which any
        phone can open (https://<county host>/r/<code>); the bare code without a host."""
        host = self.config.county_host.strip().removeprefix("https://").rstrip("/")
        return f"https://{host}/r/{quote(code, safe='')}" if host else code

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
