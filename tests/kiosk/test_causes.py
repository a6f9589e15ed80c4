"""Every failure names its true cause, from the backend's machine codes (issue 16)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kiosk_app import flow as f
from kiosk_app.flow.refusals import REFUSAL_FOR_CODE, refusal_for
from kiosk_app.models import CardKind, CertificationResult, QualityVerdict
from kiosk_app.texts import MSG, VOICE
from tests.kiosk.conftest import (
    CHALLENGE,
    GOOD,
    FakeClock,
    only,
    read_card,
    spoken,
    to_camera,
    to_liveness,
    to_submit,
)

S = f.Screen
FAILED = CertificationResult("CERT-F", "failed", 0.84, ("no_match",))


def _text(view: f.ViewModel) -> str:
    return view.title.zh + view.body.zh + (view.detail.zh if view.detail else "")


def test_three_liveness_timeouts_name_the_movement_not_the_face(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_liveness(flow)
    for attempt in range(1, flow.config.max_face_attempts + 1):
        clock.advance(flow.config.liveness_action_timeout_s)
        effects = flow.handle(f.Tick())
        view = flow.view()
        assert view.screen == S.RESULT and view.body.zh == "动作没有看清"
        assert "没有认出" not in _text(view)  # the face was never compared
        if attempt < flow.config.max_face_attempts:
            req = only(flow.handle(f.Tap("retry")), f.RequestChallenge).req
            flow.handle(f.ChallengeIssued(req, CHALLENGE))
            for _ in range(flow.config.steady_frames):
                flow.handle(f.FrameAssessed(GOOD))
            assert flow.screen == S.LIVENESS
    assert spoken(effects) == ["liveness_failed_final"]
    assert "没有认出" not in VOICE["liveness_failed_final"]
    assert view.detail is not None and "3 次" in view.detail.zh and "工作人员" in view.detail.zh
    assert [b.id for b in view.buttons] == ["done", "call_staff"]


def test_the_days_last_face_failure_says_staff_will_call(flow: f.KioskFlow) -> None:
    for attempt in range(1, flow.config.max_face_attempts + 1):
        submit = to_submit(flow) if attempt == 1 else _again(flow)
        effects = flow.handle(f.CertificationDone(submit.req, FAILED))
    view = flow.view()
    assert view.body.zh == "没有认出您"
    assert view.detail is not None and "工作人员会打电话联系您" in view.detail.zh
    said = only(effects, f.Speak)
    assert said.key == "failed_final" and said.text is not None and "打电话" in said.text


def _again(flow: f.KioskFlow) -> f.Submit:
    req = only(flow.handle(f.Tap("retry")), f.RequestChallenge).req
    flow.handle(f.ChallengeIssued(req, CHALLENGE))
    for _ in range(flow.config.steady_frames):
        flow.handle(f.FrameAssessed(GOOD))
    effects: list[f.Effect] = []
    for action in CHALLENGE.actions:
        effects = flow.handle(f.ActionDetected(action))
    return only(effects, f.Submit)


def test_a_card_name_variant_is_a_card_cause(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    effects = flow.handle(f.BackendRefused(opened.req, "card_mismatch", "card name differs"))
    view = flow.view()
    assert view.screen == S.REFUSED and spoken(effects) == ["refused_card_mismatch"]
    assert "姓名" in view.body.zh and "帽子" not in _text(view)
    assert view.detail is None  # the backend's English never reaches the screen


def test_a_face_mismatch_code_is_not_recognised(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    effects = flow.handle(f.BackendRefused(opened.req, "face_mismatch", "face differs"))
    assert flow.screen == S.ERROR and spoken(effects) == ["not_recognised"]


def test_an_unknown_code_asks_for_staff_without_english(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    flow.handle(f.BackendRefused(opened.req, "something_new", "An English sentence"))
    view = flow.view()
    assert view.body.zh == MSG["refused_other"][0] and view.detail is None


def test_poor_light_is_still_named_after_the_guidance_timeout(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_camera(flow)
    dark = QualityVerdict(False, True, "too_dark")
    for _ in range(10):
        clock.advance(flow.config.camera_guidance_timeout_s / 10)
        flow.handle(f.FrameAssessed(dark))
        effects = flow.handle(f.Tick())
    view = flow.view()
    assert view.screen == S.ERROR and view.title.zh == "没有拍到清楚的脸"
    assert "光线太暗" in view.body.zh and "工作人员" in view.body.zh
    said = only(effects, f.Speak)
    assert said.key == "camera_help" and said.text is not None and "光线太暗" in said.text


def test_every_refusal_kind_has_words_and_a_voice() -> None:
    kinds = set(REFUSAL_FOR_CODE.values()) - {"not_recognised"}
    for kind in kinds | {refusal_for("never_heard_of")}:
        assert f"refused_{kind}" in MSG, kind
        assert kind == "other" or f"refused_{kind}" in VOICE, kind


def test_the_result_stays_on_the_take_card_screen_until_the_card_is_taken(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    from tests.kiosk.conftest import PASSED

    submit = to_submit(flow)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    clock.advance(1)
    flow.handle(f.PrintDone(job.req))
    for _ in range(4):  # a minute later, the card still in: the result is still there
        clock.advance(15)
        flow.handle(f.Tick())
        view = flow.view()
        assert view.screen == S.TAKE_CARD and view.detail is not None
        assert "认证成功" in view.detail.zh and "2027年11月30日" in view.detail.zh
    flow.handle(f.CardRemoved())
    assert flow.view().notice is None  # long past the 8 s: the next person sees a clean screen


def test_a_card_pulled_at_once_still_leaves_the_result_8_seconds(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    from tests.kiosk.conftest import PASSED

    submit = to_submit(flow)
    only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    clock.advance(0.5)
    flow.handle(f.CardRemoved())
    view = flow.view()
    assert view.screen == S.ATTRACT and not flow.has_personal_data
    assert view.notice is not None and view.notice.zh.startswith("认证成功")
    assert "王" not in view.notice.zh  # no personal data outlives the session
    clock.advance(flow.config.result_min_s - 1)
    assert flow.view().notice is not None
    clock.advance(1)
    assert flow.view().notice is None


def test_a_failed_result_is_kept_too_and_the_next_card_clears_it(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, FAILED))
    flow.handle(f.Tap("end"))
    view = flow.view()
    assert view.screen == S.TAKE_CARD and view.detail is not None
    assert view.detail.zh == "这次没有认证成功" and "办完了" not in view.body.zh
    flow.handle(f.CardRemoved())
    flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY))
    assert flow._outcome is None


def test_the_action_is_demonstrated_with_a_countdown_of_the_countys_seconds(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    slow = replace(CHALLENGE, seconds_per_action=15.0)
    to_camera(flow, slow)
    for _ in range(flow.config.steady_frames):
        flow.handle(f.FrameAssessed(GOOD))
    view = flow.view()
    assert view.screen == S.LIVENESS and view.demo == slow.actions[0]
    assert view.countdown == 15
    clock.advance(14.2)
    assert flow.view().countdown == 1
    flow.handle(f.Tick())
    assert flow.screen == S.LIVENESS  # 15 s, not the kiosk's default
    clock.advance(1)
    flow.handle(f.Tick())
    assert flow.screen == S.RESULT


def test_without_the_countys_seconds_the_kiosk_default_is_for_the_elderly(
    flow: f.KioskFlow,
) -> None:
    to_liveness(flow)
    assert flow.config.liveness_action_timeout_s >= 12
    assert flow.view().countdown == int(flow.config.liveness_action_timeout_s)


def test_certification_first_when_due_balance_first_when_certified(flow: f.KioskFlow) -> None:
    from tests.kiosk.conftest import RESIDENT, to_menu

    to_menu(flow)
    ids = [b.id for b in flow.view().buttons]
    assert ids[0] == "certify" and flow.view().buttons[0].primary and len(ids) < 6
    flow.handle(f.Tap("back"))
    flow.handle(f.CardRemoved())
    certified = replace(RESIDENT, certification_due=False, certification_valid_until=_date())
    to_menu(flow, certified)
    buttons = flow.view().buttons
    assert buttons[0].id == "balance" and buttons[0].primary
    assert buttons[-1].id == "certify" and not buttons[-1].primary and len(buttons) < 6


def _date() -> date:
    return date(2027, 11, 30)


def test_the_help_text_calls_the_staff(flow: f.KioskFlow, clock: FakeClock) -> None:
    from tests.kiosk.conftest import to_menu

    to_menu(flow)
    flow.handle(f.Tap("help"))
    view = flow.view()
    assert view.overlay is not None and view.overlay.staff is not None
    assert view.overlay.staff.label.zh == "请工作人员帮忙"
    effects = flow.handle(f.Tap("call_staff"))
    assert only(effects, f.CallStaff).screen == "menu"
    view = flow.view()
    assert view.overlay is None and view.notice is not None and "工作人员" in view.notice.zh
    flow.handle(f.StaffCalled(ok=False))
    notice = flow.view().notice
    assert notice is not None and "窗口" in notice.zh
    clock.advance(flow.config.notice_s + 1)
    assert flow.view().notice is None
    assert flow.handle(f.Tap("call_staff")) == []  # no help text open: no such button


def test_every_failure_screen_calls_the_staff_itself(flow: f.KioskFlow, clock: FakeClock) -> None:
    """请工作人员帮忙 on the failure screens themselves (no help text to open first): the same
    help request as the help text's, once per wait, again after it could not be sent."""
    from tests.kiosk.conftest import to_menu

    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, FAILED))
    view = flow.view()
    assert view.screen == S.RESULT and view.overlay is None
    assert [b.id for b in view.buttons] == ["retry", "end", "call_staff"]
    assert view.buttons[-1].label.zh == "请工作人员帮忙"
    effects = flow.handle(f.Tap("call_staff"))
    assert only(effects, f.CallStaff).screen == "result" and spoken(effects) == ["staff_called"]
    notice = flow.view().notice
    assert notice is not None and "已通知工作人员" in notice.zh
    assert flow.screen == S.RESULT  # the result and its buttons stay
    # a second tap while the staff are on their way: said again, not sent again
    again = flow.handle(f.Tap("call_staff"))
    assert not [e for e in again if isinstance(e, f.CallStaff)]
    assert spoken(again) == ["staff_called"]
    flow.handle(f.StaffCalled(ok=False))  # the console could not be told
    notice = flow.view().notice
    assert notice is not None and "窗口" in notice.zh
    assert only(flow.handle(f.Tap("call_staff")), f.CallStaff).screen == "result"

    # an error screen (the server cannot be reached) and a refusal (a card name variant)
    flow.handle(f.Tap("end"))
    flow.handle(f.CardRemoved())
    clock.advance(flow.config.notice_s + 1)
    to_menu(flow)
    load = only(flow.handle(f.Tap("balance")), f.LoadAccount)
    flow.handle(f.BackendUnreachable(load.req, "down"))
    assert flow.screen == S.ERROR
    assert [b.id for b in flow.view().buttons] == ["retry", "call_staff"]
    assert only(flow.handle(f.Tap("call_staff")), f.CallStaff).screen == "error"
    flow.handle(f.Tap("back"))
    flow.handle(f.CardRemoved())
    clock.advance(flow.config.notice_s + 1)
    opened = read_card(flow)
    flow.handle(f.BackendRefused(opened.req, "card_mismatch", "name written differently"))
    view = flow.view()
    assert view.screen == S.REFUSED and [b.id for b in view.buttons] == ["call_staff"]
    assert only(flow.handle(f.Tap("call_staff")), f.CallStaff).screen == "refused"
    # the menu is no failure: no such button there
    flow.handle(f.CardRemoved())
    clock.advance(flow.config.notice_s + 1)
    to_menu(flow)
    assert "call_staff" not in flow.view().button_ids()
    assert flow.handle(f.Tap("call_staff")) == []
