"""The kiosk's state machine, path by path: no Kivy, no sleeping (the clock is fake)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from kiosk_app import flow as f
from kiosk_app.config import KioskConfig
from kiosk_app.models import (
    AccountSummary,
    CardKind,
    CertificationResult,
    Contribution,
    Payment,
    QualityVerdict,
)

from .conftest import (
    CARD,
    CHALLENGE,
    GOOD,
    ID_CARD,
    PASSED,
    RESIDENT,
    FakeClock,
    identify,
    only,
    read_card,
    spoken,
    to_camera,
    to_liveness,
    to_menu,
    to_submit,
)

S = f.Screen


# ---------------------------------------------------------------- attract and card


def test_starts_on_attract_with_help_and_no_back(flow: f.KioskFlow) -> None:
    view = flow.view()
    assert view.screen == S.ATTRACT
    assert view.back is None
    assert view.help is not None
    assert view.picture == "insert_card"
    assert "社保卡" in view.body.zh and "social security card" in view.body.en
    assert not flow.has_personal_data


def test_touching_attract_speaks_the_instruction_but_not_in_a_burst(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    assert spoken(flow.handle(f.Touch())) == ["attract"]
    clock.advance(1)
    assert spoken(flow.handle(f.Touch())) == []
    clock.advance(flow.config.guidance_voice_gap_s)
    assert spoken(flow.handle(f.Touch())) == ["attract"]


def test_attract_never_times_out(flow: f.KioskFlow, clock: FakeClock) -> None:
    clock.advance(3600)
    assert flow.handle(f.Tick()) == []
    assert flow.screen == S.ATTRACT and flow.view().overlay is None


def test_inserting_a_card_reads_it(flow: f.KioskFlow) -> None:
    effects = flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY))
    read = only(effects, f.ReadCard)
    assert read.kind == CardKind.SOCIAL_SECURITY
    assert spoken(effects) == ["reading"]
    view = flow.view()
    assert view.screen == S.READING and view.busy and not view.back_enabled


def test_card_read_asks_for_a_look_at_the_camera_before_anything_personal(
    flow: f.KioskFlow,
) -> None:
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    effects = flow.handle(f.CardRead(read.req, CARD))
    only(effects, f.StartCamera)
    assert spoken(effects) == ["identify"]
    view = flow.view()
    assert view.screen == S.IDENTIFY and view.show_camera
    assert view.detail is not None and "本人" in view.detail.zh
    assert "王" not in view.title.zh + view.body.zh  # nothing about the card holder yet
    assert [e for e in effects if isinstance(e, f.OpenSession)] == []


def test_identified_face_opens_the_resident_session(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    assert opened.card == CARD and opened.with_photo
    assert flow.view().body.zh == "正在查找您的信息，请稍等"
    effects = flow.handle(f.SessionOpened(opened.req, RESIDENT))
    assert flow.screen == S.MENU
    assert spoken(effects) == ["menu_due"]
    assert flow.resident == RESIDENT


def test_without_the_face_step_the_card_opens_the_session(clock: FakeClock) -> None:
    flow = f.KioskFlow(KioskConfig(face_to_open_session=False), clock=clock)
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    opened = only(flow.handle(f.CardRead(read.req, CARD)), f.OpenSession)
    assert not opened.with_photo and flow.screen == S.READING


def test_face_not_the_card_holders_offers_retries_then_staff(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    for attempt in range(1, flow.config.max_face_attempts + 1):
        effects = flow.handle(f.BackendRefused(opened.req, "not_recognised", "face mismatch"))
        view = flow.view()
        assert view.screen == S.ERROR and view.title.zh == "没有认出您"
        if attempt < flow.config.max_face_attempts:
            assert spoken(effects) == ["not_recognised"]
            assert [b.id for b in view.buttons] == ["retry", "call_staff"]
            only(flow.handle(f.Tap("retry")), f.StartCamera)
            assert flow.screen == S.IDENTIFY
            opened = identify(flow)
        else:
            assert spoken(effects) == ["failed_final"]
            assert [b.id for b in view.buttons] == ["call_staff"] and "工作人员" in view.body.zh
    flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD and not flow.has_personal_data


def test_identify_guidance_timeout_and_back(flow: f.KioskFlow, clock: FakeClock) -> None:
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    flow.handle(f.CardRead(read.req, CARD))
    clock.advance(flow.config.camera_guidance_timeout_s)
    effects = flow.handle(f.Tick())
    only(effects, f.StopCamera)
    assert flow.view().title.zh == "没有拍到清楚的脸"
    only(flow.handle(f.Tap("retry")), f.StartCamera)
    assert flow.screen == S.IDENTIFY
    effects = flow.handle(f.Tap("back"))
    only(effects, f.StopCamera)
    assert flow.screen == S.TAKE_CARD


def test_camera_failure_while_identifying(flow: f.KioskFlow) -> None:
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    flow.handle(f.CardRead(read.req, CARD))
    flow.handle(f.CameraFailed("unplugged"))
    assert flow.view().title.zh == "摄像头不能用"
    flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD


def test_unreadable_card_says_so_and_the_way_out_is_taking_it(flow: f.KioskFlow) -> None:
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    effects = flow.handle(f.CardReadFailed(read.req, "dirty chip"))
    assert spoken(effects) == ["card_error"]
    view = flow.view()
    assert view.screen == S.ERROR and view.tone == "error" and view.icon == "×"
    assert view.title.zh == "读不出这张卡"
    # no retry (take the card out and in again), but the staff can be called
    assert [b.id for b in view.buttons] == ["call_staff"]
    flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD
    flow.handle(f.CardRemoved())
    assert flow.screen == S.ATTRACT


def test_card_read_watchdog(flow: f.KioskFlow, clock: FakeClock) -> None:
    flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY))
    clock.advance(flow.config.card_read_timeout_s - 0.1)
    flow.handle(f.Tick())
    assert flow.screen == S.READING
    clock.advance(0.2)
    flow.handle(f.Tick())
    assert flow.screen == S.ERROR and flow.view().title.zh == "读不出这张卡"


def test_card_not_enrolled_is_refused_in_plain_words(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    effects = flow.handle(f.BackendRefused(opened.req, "not_enrolled", "未找到参保人"))
    assert spoken(effects) == ["refused_not_enrolled"]
    view = flow.view()
    assert view.screen == S.REFUSED and "没有找到您的参保信息" in view.body.zh
    assert view.detail is not None and view.detail.zh == "未找到参保人"
    effects = flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD
    assert only(effects, f.EndSession).session_id is None


def test_backend_unreachable_at_open_offers_retry_and_ignores_the_stale_answer(
    flow: f.KioskFlow,
) -> None:
    first = read_card(flow)
    effects = flow.handle(f.BackendUnreachable(first.req, "connection refused"))
    assert spoken(effects) == ["unreachable"]
    view = flow.view()
    assert view.screen == S.ERROR and view.title.zh == "网络连不上"
    assert [b.id for b in view.buttons] == ["retry", "call_staff"] and view.back is not None
    second = only(flow.handle(f.Tap("retry")), f.OpenSession)
    assert second.req != first.req and flow.screen == S.READING
    assert flow.handle(f.SessionOpened(first.req, RESIDENT)) == []  # stale
    assert flow.screen == S.READING
    flow.handle(f.SessionOpened(second.req, RESIDENT))
    assert flow.screen == S.MENU


def test_backend_watchdog_counts_as_unreachable(flow: f.KioskFlow, clock: FakeClock) -> None:
    opened = read_card(flow)
    clock.advance(flow.config.backend_timeout_s)
    flow.handle(f.Tick())
    assert flow.screen == S.ERROR and flow.view().title.en == "Cannot connect"
    assert flow.handle(f.SessionOpened(opened.req, RESIDENT)) == []  # too late


def test_unreachable_back_without_a_session_ends_it(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    flow.handle(f.BackendUnreachable(opened.req))
    flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD and not flow.has_personal_data


def test_removing_the_card_while_reading_forgets_everything(flow: f.KioskFlow) -> None:
    opened = read_card(flow)
    effects = flow.handle(f.CardRemoved())
    assert flow.screen == S.ATTRACT
    assert only(effects, f.EndSession).session_id is None
    assert flow.handle(f.SessionOpened(opened.req, RESIDENT)) == []
    assert flow.screen == S.ATTRACT and flow.resident is None


def test_a_second_card_while_busy_is_ignored(flow: f.KioskFlow) -> None:
    to_menu(flow)
    assert flow.handle(f.CardInserted(CardKind.ID_CARD)) == []
    assert flow.screen == S.MENU and flow.resident == RESIDENT


# ---------------------------------------------------------------- menu


def test_menu_of_a_pensioner_who_is_due(flow: f.KioskFlow) -> None:
    to_menu(flow)
    view = flow.view()
    assert [b.id for b in view.buttons] == [
        "certify",
        "balance",
        "contributions",
        "payments",
        "print",
    ]
    assert view.buttons[0].primary and all(b.icon for b in view.buttons)
    assert view.title.zh == "您好，王*英"
    assert view.detail is not None and "还没有认证" in view.detail.zh
    assert view.back is not None and view.back.label.zh == "退出"
    assert view.tone == "warning"


def test_menu_of_a_certified_pensioner_shows_until_when(flow: f.KioskFlow) -> None:
    resident = replace(
        RESIDENT, certification_due=False, certification_valid_until=date(2027, 3, 31)
    )
    to_menu(flow, resident)
    view = flow.view()
    assert view.detail is not None
    assert view.detail.zh == "已认证，有效期到 2027年3月31日"
    assert view.detail.en == "Certified, valid until 2027-03-31"
    assert view.tone == "info"


def test_menu_of_a_contributor_has_no_certification(flow: f.KioskFlow) -> None:
    to_menu(flow, replace(RESIDENT, status="enrolled"))
    view = flow.view()
    assert "certify" not in [b.id for b in view.buttons]
    assert view.detail is None
    assert flow.handle(f.Tap("certify")) == []  # not on screen: ignored


def test_balance(flow: f.KioskFlow) -> None:
    to_menu(flow)
    effects = flow.handle(f.Tap("balance"))
    load = only(effects, f.LoadAccount)
    assert load.resident == RESIDENT and flow.screen == S.LOADING and flow.view().busy
    account = AccountSummary(338405, 278405, 0, 0, 60000)
    flow.handle(f.AccountLoaded(load.req, account))
    view = flow.view()
    assert view.screen == S.BALANCE
    assert view.body.zh == "3,384.05 元" and view.body.en == "3,384.05 yuan"
    assert [r[0].zh for r in view.rows] == ["个人缴费", "政府补贴"]  # empty buckets left out
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU


def test_contributions_newest_first_and_at_most_configured_rows(
    clock: FakeClock,
) -> None:
    flow = f.KioskFlow(KioskConfig(history_rows=3), clock=clock)
    to_menu(flow)
    load = only(flow.handle(f.Tap("contributions")), f.LoadContributions)
    items = tuple(Contribution(y, "normal", 30000, 4000) for y in (2019, 2022, 2020, 2021))
    flow.handle(f.ContributionsLoaded(load.req, items))
    view = flow.view()
    assert [r[0].zh for r in view.rows] == ["2022年", "2021年", "2020年"]
    assert view.rows[0][1].zh == "个人 300.00 元，补贴 40.00 元"


def test_no_contributions_says_so(flow: f.KioskFlow) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("contributions")), f.LoadContributions)
    flow.handle(f.ContributionsLoaded(load.req, ()))
    view = flow.view()
    assert view.rows == () and view.body.zh == "还没有缴费记录"


def test_payments_mark_back_pay(flow: f.KioskFlow) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("payments")), f.LoadPayments)
    items = (Payment("2026-09", 14300, 14300), Payment("2026-10", 28600, 14300, 0, 14300))
    flow.handle(f.PaymentsLoaded(load.req, items))
    view = flow.view()
    assert [(r[0].zh, r[1].zh) for r in view.rows] == [
        ("2026年10月", "286.00 元（含补发）"),
        ("2026年9月", "143.00 元"),
    ]


def test_query_unreachable_retry_and_back(flow: f.KioskFlow) -> None:
    to_menu(flow)
    first = only(flow.handle(f.Tap("payments")), f.LoadPayments)
    flow.handle(f.BackendUnreachable(first.req))
    assert flow.screen == S.ERROR
    second = only(flow.handle(f.Tap("retry")), f.LoadPayments)
    assert second.req != first.req and flow.screen == S.LOADING
    flow.handle(f.BackendUnreachable(second.req))
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU and flow.resident == RESIDENT


def test_back_while_loading_abandons_the_request(flow: f.KioskFlow) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("balance")), f.LoadAccount)
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU
    assert flow.handle(f.AccountLoaded(load.req, AccountSummary(1))) == []
    assert flow.screen == S.MENU


def test_query_refused_goes_back_to_the_menu(flow: f.KioskFlow) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("balance")), f.LoadAccount)
    flow.handle(f.BackendRefused(load.req, "forbidden", "village scope"))
    view = flow.view()
    assert view.screen == S.REFUSED and view.body.zh.startswith("请找大厅工作人员")
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU


def test_expired_resident_session_ends_the_visit(flow: f.KioskFlow) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("balance")), f.LoadAccount)
    effects = flow.handle(f.BackendRefused(load.req, "session_expired", "expired"))
    assert spoken(effects) == ["refused_session_expired"]
    assert "重新插入" in flow.view().body.zh
    flow.handle(f.Tap("back"))
    assert flow.screen == S.TAKE_CARD and not flow.has_personal_data


def test_menu_when_the_backend_does_not_say_the_status(flow: f.KioskFlow) -> None:
    to_menu(flow, replace(RESIDENT, status="unknown"))
    view = flow.view()
    assert view.buttons[0].id == "certify" and view.detail is None


def test_print_statement_then_notice_that_expires(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_menu(flow)
    job = only(flow.handle(f.Tap("print")), f.PrintStatement)
    assert flow.screen == S.PRINTING and flow.view().busy
    effects = flow.handle(f.PrintDone(job.req))
    assert spoken(effects) == ["statement_printed"]
    view = flow.view()
    assert view.screen == S.MENU and view.notice is not None
    assert view.notice.zh.startswith("凭条已打印")
    clock.advance(flow.config.notice_s + 0.1)
    flow.handle(f.Tick())
    assert flow.view().notice is None


def test_print_statement_out_of_paper(flow: f.KioskFlow) -> None:
    to_menu(flow)
    job = only(flow.handle(f.Tap("print")), f.PrintStatement)
    effects = flow.handle(f.PrinterFault(job.req, "out_of_paper"))
    assert spoken(effects) == ["paper_out"]
    view = flow.view()
    assert view.screen == S.MENU and view.notice is not None and "没纸" in view.notice.zh


def test_print_statement_watchdog(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_menu(flow)
    flow.handle(f.Tap("print"))
    clock.advance(flow.config.print_timeout_s)
    effects = flow.handle(f.Tick())
    assert spoken(effects) == ["printer_fault"]
    assert flow.screen == S.MENU and flow.view().notice is not None


def test_print_statement_backend_unreachable(flow: f.KioskFlow) -> None:
    to_menu(flow)
    job = only(flow.handle(f.Tap("print")), f.PrintStatement)
    flow.handle(f.BackendUnreachable(job.req))
    assert flow.screen == S.ERROR
    only(flow.handle(f.Tap("retry")), f.PrintStatement)


def test_exit_from_menu_forgets_the_person(flow: f.KioskFlow) -> None:
    to_menu(flow)
    effects = flow.handle(f.Tap("back"))
    assert only(effects, f.EndSession).session_id == "S1"
    assert spoken(effects) == ["take_card"]
    view = flow.view()
    assert view.screen == S.TAKE_CARD and view.picture == "take_card" and view.back is None
    assert not flow.has_personal_data and flow.resident is None
    flow.handle(f.CardRemoved())
    assert flow.screen == S.ATTRACT


def test_language_switch(flow: f.KioskFlow) -> None:
    to_menu(flow)
    assert flow.handle(f.Tap("lang")) == []
    view = flow.view()
    assert view.lang == "en" and view.title.get("en") == "Hello, 王*英"
    flow.handle(f.Tap("lang"))
    assert flow.view().lang == "zh"
    flow.handle(f.Tap("lang"))
    flow.handle(f.Tap("back"))  # the visit ends in English...
    assert flow.view().lang == "zh"  # ...the next person starts in Chinese


def test_stale_tap_is_ignored(flow: f.KioskFlow) -> None:
    assert spoken(flow.handle(f.Tap("certify"))) == ["attract"]  # a touch, nothing more
    assert flow.screen == S.ATTRACT
    to_menu(flow)
    assert flow.handle(f.Tap("retry")) == []
    assert flow.handle(f.Tap("done")) == []
    assert flow.screen == S.MENU


# ---------------------------------------------------------------- help and idle


def test_help_overlay_is_for_this_screen_and_blocks_other_buttons(flow: f.KioskFlow) -> None:
    to_menu(flow)
    assert spoken(flow.handle(f.Tap("help"))) == ["help_menu"]
    view = flow.view()
    assert view.overlay is not None and view.overlay.kind == "help"
    assert "每年认证一次" in view.overlay.body.zh
    assert "工作人员" in view.overlay.body.zh
    assert view.button_ids() == ["help_close"]
    assert flow.handle(f.Tap("balance")) == []
    flow.handle(f.Tap("help_close"))
    assert flow.view().overlay is None and flow.screen == S.MENU


def test_help_on_attract_explains_the_card(flow: f.KioskFlow) -> None:
    flow.handle(f.Tap("help"))
    overlay = flow.view().overlay
    assert overlay is not None and "卡口" in overlay.body.zh


def test_idle_warning_then_continue(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_menu(flow)
    clock.advance(flow.config.idle_warning_s - 1)
    assert flow.handle(f.Tick()) == []
    clock.advance(1)
    assert spoken(flow.handle(f.Tick())) == ["idle"]
    overlay = flow.view().overlay
    assert overlay is not None and overlay.kind == "idle"
    assert "20 秒后自动退出" in overlay.body.zh
    clock.advance(5)
    overlay = flow.view().overlay
    assert overlay is not None and "15 秒" in overlay.body.zh
    flow.handle(f.Tap("continue"))
    assert flow.view().overlay is None and flow.screen == S.MENU
    clock.advance(flow.config.idle_warning_s - 1)
    flow.handle(f.Tick())
    assert flow.view().overlay is None


def test_any_touch_dismisses_the_idle_warning(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_menu(flow)
    clock.advance(flow.config.idle_warning_s)
    flow.handle(f.Tick())
    flow.handle(f.Touch())
    assert flow.view().overlay is None


def test_idle_timeout_ends_the_session_and_forgets_the_person(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_menu(flow)
    load = only(flow.handle(f.Tap("balance")), f.LoadAccount)
    flow.handle(f.AccountLoaded(load.req, AccountSummary(100)))
    clock.advance(flow.config.idle_warning_s)
    flow.handle(f.Tick())
    clock.advance(flow.config.idle_grace_s - 0.5)
    flow.handle(f.Tick())
    assert flow.screen == S.BALANCE
    clock.advance(0.5)
    effects = flow.handle(f.Tick())
    assert only(effects, f.EndSession).session_id == "S1"
    assert flow.screen == S.TAKE_CARD and not flow.has_personal_data
    assert flow.view().overlay is None


def test_take_card_reminder_repeats(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_menu(flow)
    flow.handle(f.Tap("back"))
    clock.advance(flow.config.take_card_reminder_s - 1)
    assert spoken(flow.handle(f.Tick())) == []
    clock.advance(1)
    assert spoken(flow.handle(f.Tick())) == ["take_card"]
    clock.advance(flow.config.take_card_reminder_s)
    assert spoken(flow.handle(f.Tick())) == ["take_card"]
    assert flow.screen == S.TAKE_CARD  # the card stays until taken; no one's data is kept


def test_id_card_is_asked_back_by_name(flow: f.KioskFlow) -> None:
    to_menu(flow, card=ID_CARD)
    effects = flow.handle(f.Tap("back"))
    assert spoken(effects) == ["take_id"]
    assert flow.view().title.zh == "请拿走您的身份证"


# ---------------------------------------------------------------- certification


def test_certify_fetches_a_challenge_then_starts_the_camera(flow: f.KioskFlow) -> None:
    to_menu(flow)
    req = only(flow.handle(f.Tap("certify")), f.RequestChallenge)
    assert req.resident == RESIDENT and flow.screen == S.LOADING
    effects = flow.handle(f.ChallengeIssued(req.req, CHALLENGE))
    only(effects, f.StartCamera)
    assert spoken(effects) == ["camera"]
    view = flow.view()
    assert view.show_camera and view.body.zh == "请把脸放进框里"


def test_guidance_follows_the_quality_gate_and_is_not_repeated_too_often(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_camera(flow)
    clock.advance(flow.config.guidance_voice_gap_s)
    small = QualityVerdict(False, True, "too_small", "请靠近一点", "Please come closer")
    assert spoken(flow.handle(f.FrameAssessed(small))) == ["guide_too_small"]
    assert flow.view().body.zh == "请走近一点"
    clock.advance(3)
    assert spoken(flow.handle(f.FrameAssessed(small))) == []  # same advice, too soon
    dark = QualityVerdict(False, True, "too_dark", "光线太暗", "Too dark")
    clock.advance(0.5)
    assert spoken(flow.handle(f.FrameAssessed(dark))) == []  # new advice, but too soon
    assert flow.view().body.zh.startswith("光线太暗")  # shown at once all the same
    clock.advance(1)
    blur = QualityVerdict(False, True, "blurred", "图像模糊", "Blurred")
    assert spoken(flow.handle(f.FrameAssessed(blur))) == ["guide_blurry"]
    clock.advance(flow.config.guidance_repeat_s - 1)
    assert spoken(flow.handle(f.FrameAssessed(blur))) == []
    clock.advance(1)
    assert spoken(flow.handle(f.FrameAssessed(blur))) == ["guide_blurry"]  # a reminder


def test_unknown_quality_reason_shows_the_gates_own_words(flow: f.KioskFlow) -> None:
    to_camera(flow)
    odd = QualityVerdict(False, True, "new_reason", "请调整姿势", "Adjust your pose")
    assert spoken(flow.handle(f.FrameAssessed(odd))) == []
    assert flow.view().body == f.Text("请调整姿势", "Adjust your pose")


def test_no_face_frame_gives_no_face_guidance(flow: f.KioskFlow) -> None:
    to_camera(flow)
    flow.handle(f.FrameAssessed(QualityVerdict(False, False, None)))
    assert flow.view().body.zh == "请把脸放进框里"


def test_steady_good_frames_take_the_photo_and_start_the_first_action(
    flow: f.KioskFlow,
) -> None:
    to_camera(flow)
    bad = QualityVerdict(False, True, "too_small")
    for _ in range(flow.config.steady_frames - 1):
        flow.handle(f.FrameAssessed(GOOD))
    assert flow.view().tone == "success"  # "hold still", with words too
    assert flow.view().body.zh == "很好，请保持不动"
    flow.handle(f.FrameAssessed(bad))  # a bad frame starts the count again
    effects: list = []
    for _ in range(flow.config.steady_frames):
        effects = flow.handle(f.FrameAssessed(GOOD))
    assert only(effects, f.CaptureFace).actions == ("blink", "turn_left")
    assert only(effects, f.WatchAction).action == "blink"
    assert spoken(effects) == ["action_blink"]
    view = flow.view()
    assert view.screen == S.LIVENESS and view.progress == (1, 2)
    assert view.title.zh == "第 1 步，共 2 步" and view.body.zh == "请眨眨眼"


def test_a_face_at_the_camera_keeps_the_session_alive(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_camera(flow)
    for _ in range(3):
        clock.advance(flow.config.idle_warning_s - 20)
        flow.handle(f.FrameAssessed(QualityVerdict(False, True, "too_small")))
        flow.handle(f.Tick())
        # guidance timeout comes first if the face never becomes good enough
        if flow.screen != S.CAMERA:
            break
        assert flow.view().overlay is None
    assert flow.screen == S.ERROR and flow.view().title.zh == "没有拍到清楚的脸"


def test_camera_guidance_timeout_offers_staff_help_and_retry(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_camera(flow)
    clock.advance(flow.config.camera_guidance_timeout_s)
    effects = flow.handle(f.Tick())
    only(effects, f.StopCamera)
    assert spoken(effects) == ["camera_help"]
    view = flow.view()
    assert view.screen == S.ERROR and "工作人员" in view.body.zh
    again = only(flow.handle(f.Tap("retry")), f.RequestChallenge)
    assert again.resident == RESIDENT


def test_camera_failure(flow: f.KioskFlow) -> None:
    to_camera(flow)
    effects = flow.handle(f.CameraFailed("unplugged"))
    only(effects, f.StopCamera)
    assert flow.view().title.zh == "摄像头不能用"
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU


def test_camera_failure_outside_the_camera_is_ignored(flow: f.KioskFlow) -> None:
    to_menu(flow)
    assert flow.handle(f.CameraFailed("late")) == []
    assert flow.screen == S.MENU


def test_back_at_the_camera_stops_it_and_returns_to_the_menu(flow: f.KioskFlow) -> None:
    to_camera(flow)
    effects = flow.handle(f.Tap("back"))
    only(effects, f.StopCamera)
    assert flow.screen == S.MENU
    assert flow.handle(f.FrameAssessed(GOOD)) == []


def test_back_while_the_challenge_loads_ignores_it_later(flow: f.KioskFlow) -> None:
    to_menu(flow)
    req = only(flow.handle(f.Tap("certify")), f.RequestChallenge)
    flow.handle(f.Tap("back"))
    assert flow.handle(f.ChallengeIssued(req.req, CHALLENGE)) == []
    assert flow.screen == S.MENU


def test_liveness_one_action_at_a_time_then_submit(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_liveness(flow)
    assert flow.handle(f.ActionDetected("turn_left")) == []  # not this step's action
    clock.advance(2.5)
    effects = flow.handle(f.ActionDetected("blink"))
    assert only(effects, f.WatchAction).action == "turn_left"
    assert spoken(effects) == ["action_turn_left"]
    assert flow.view().progress == (2, 2)
    assert flow.view().detail == f.Text("●  ●", "●  ●")
    clock.advance(3)
    effects = flow.handle(f.ActionDetected("turn_left"))
    only(effects, f.StopCamera)
    submit = only(effects, f.Submit)
    assert submit.resident == RESIDENT
    assert submit.evidence.challenge_id == "C1" and submit.evidence.nonce == "nonce-1"
    assert submit.evidence.actions_done == ("blink", "turn_left")
    assert submit.evidence.timings_s == (2.5, 3.0)
    assert submit.idempotency_key.startswith("C1-")
    view = flow.view()
    assert view.screen == S.SUBMITTING and view.busy and not view.back_enabled
    assert flow.handle(f.Tap("back")) == []
    assert flow.screen == S.SUBMITTING


def test_liveness_action_timeout_counts_as_a_failed_attempt(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    to_liveness(flow)
    clock.advance(flow.config.liveness_action_timeout_s)
    effects = flow.handle(f.Tick())
    only(effects, f.StopCamera)
    assert spoken(effects) == ["liveness_failed"]
    view = flow.view()
    assert view.screen == S.RESULT and view.body.zh == "动作没有看清"
    assert [b.id for b in view.buttons] == ["retry", "end", "call_staff"]
    only(flow.handle(f.Tap("retry")), f.RequestChallenge)


def test_passed_prints_the_receipt_then_asks_for_the_card(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    effects = flow.handle(f.CertificationDone(submit.req, PASSED))
    assert spoken(effects) == ["passed_printing"]  # one prompt: a second would cut it off
    job = only(effects, f.PrintReceipt)
    assert job.content.qr_code == "NB:R1"
    assert "姓名：王*英" in job.content.lines
    assert "有效期至：2027-11-30" in job.content.lines
    assert all("11010519491231002X" not in line for line in job.content.lines)
    view = flow.view()
    assert view.screen == S.PRINTING and view.tone == "success" and view.icon == "√"
    assert view.body.zh == "认证成功"
    assert view.detail is not None and "2027年11月30日" in view.detail.zh
    assert not view.back_enabled and flow.handle(f.Tap("back")) == []
    effects = flow.handle(f.PrintDone(job.req))
    assert only(effects, f.EndSession).session_id == "S1"
    view = flow.view()
    assert view.screen == S.TAKE_CARD and "凭条" in view.body.zh
    assert not flow.has_personal_data


def test_passed_without_a_receipt_shows_the_result_with_done(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, replace(PASSED, receipt=None)))
    view = flow.view()
    assert view.screen == S.RESULT and [b.id for b in view.buttons] == ["done"]
    flow.handle(f.Tap("done"))
    assert flow.screen == S.TAKE_CARD and flow.view().body.zh == "办完了，请拿好您的卡"


def test_referred_is_said_kindly_and_printed(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    referred = CertificationResult("K2", "referred", 0.5, (), None, PASSED.receipt)
    effects = flow.handle(f.CertificationDone(submit.req, referred))
    only(effects, f.PrintReceipt)
    view = flow.view()
    assert view.tone == "warning" and view.icon == "！"
    assert view.detail is not None and "不用再来" in view.detail.zh


def test_failed_then_retry_until_the_limit(flow: f.KioskFlow) -> None:
    failed = CertificationResult("K3", "failed", 0.8, ("no_match",))
    submit = to_submit(flow)
    for attempt in range(1, flow.config.max_face_attempts + 1):
        effects = flow.handle(f.CertificationDone(submit.req, failed))
        view = flow.view()
        assert view.screen == S.RESULT and view.tone == "error"
        if attempt < flow.config.max_face_attempts:
            assert spoken(effects) == ["failed"]
            assert [b.id for b in view.buttons] == ["retry", "end", "call_staff"]
            req = only(flow.handle(f.Tap("retry")), f.RequestChallenge)
            flow.handle(f.ChallengeIssued(req.req, CHALLENGE))
            for _ in range(flow.config.steady_frames):
                flow.handle(f.FrameAssessed(GOOD))
            for action in CHALLENGE.actions:
                effects = flow.handle(f.ActionDetected(action))
            submit = only(effects, f.Submit)
        else:
            assert spoken(effects) == ["failed_final"]
            assert [b.id for b in view.buttons] == ["done", "call_staff"]
            assert view.detail is not None and "3 次" in view.detail.zh
    flow.handle(f.Tap("done"))
    assert flow.screen == S.TAKE_CARD


def test_failed_and_finish(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, CertificationResult("K", "failed")))
    effects = flow.handle(f.Tap("end"))
    only(effects, f.EndSession)
    assert flow.screen == S.TAKE_CARD


def test_failed_back_goes_to_the_menu(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, CertificationResult("K", "failed")))
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU


def test_unknown_outcome_is_refused_not_passed(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, CertificationResult("K", "maybe")))
    assert flow.screen == S.REFUSED


@pytest.mark.parametrize(
    ("kind", "words", "voice"),
    [("out_of_paper", "打印机没纸了", "paper_out"), ("offline", "打印机坏了", "printer_fault")],
)
def test_printer_fault_keeps_the_result_on_screen(
    flow: f.KioskFlow, kind: str, words: str, voice: str
) -> None:
    submit = to_submit(flow)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    effects = flow.handle(f.PrinterFault(job.req, kind))
    assert spoken(effects) == [voice]
    view = flow.view()
    assert view.screen == S.PRINT_FAULT
    assert view.body.zh == "认证成功" and view.notice is not None
    assert view.notice.zh.startswith(words) and view.notice_icon == "！"
    assert [b.id for b in view.buttons] == ["done", "call_staff"]
    flow.handle(f.Tap("done"))
    assert flow.screen == S.TAKE_CARD and flow.view().body.zh == "办完了，请拿好您的卡"


def test_printer_watchdog_during_the_receipt(flow: f.KioskFlow, clock: FakeClock) -> None:
    submit = to_submit(flow)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    clock.advance(flow.config.print_timeout_s)
    flow.handle(f.Tick())
    assert flow.screen == S.PRINT_FAULT
    assert flow.handle(f.PrintDone(job.req)) == []


def test_submit_unreachable_retries_with_the_same_idempotency_key(flow: f.KioskFlow) -> None:
    first = to_submit(flow)
    flow.handle(f.BackendUnreachable(first.req, "timeout"))
    assert flow.screen == S.ERROR
    second = only(flow.handle(f.Tap("retry")), f.Submit)
    assert second.idempotency_key == first.idempotency_key and second.req != first.req
    assert second.evidence == first.evidence


def test_submit_watchdog(flow: f.KioskFlow, clock: FakeClock) -> None:
    to_submit(flow)
    clock.advance(flow.config.backend_timeout_s)
    flow.handle(f.Tick())
    assert flow.screen == S.ERROR and flow.view().title.zh == "网络连不上"


def test_card_locked_for_the_day(flow: f.KioskFlow) -> None:
    to_menu(flow)
    req = only(flow.handle(f.Tap("certify")), f.RequestChallenge)
    effects = flow.handle(f.BackendRefused(req.req, "card_locked", "今日次数已达上限"))
    assert spoken(effects) == ["refused_card_locked"]
    assert "明天再来" in flow.view().body.zh
    flow.handle(f.Tap("back"))
    assert flow.screen == S.MENU


def test_removing_the_card_at_the_camera_ends_everything(flow: f.KioskFlow) -> None:
    to_liveness(flow)
    effects = flow.handle(f.CardRemoved())
    only(effects, f.StopCamera)
    assert only(effects, f.EndSession).session_id == "S1"
    assert flow.screen == S.ATTRACT and not flow.has_personal_data
    assert flow.handle(f.ActionDetected("blink")) == []


def test_removing_the_card_while_submitting_ignores_the_late_result(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CardRemoved())
    assert flow.handle(f.CertificationDone(submit.req, PASSED)) == []
    assert flow.screen == S.ATTRACT


def test_removing_the_card_while_printing(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    flow.handle(f.CardRemoved())
    assert flow.screen == S.ATTRACT
    assert flow.handle(f.PrintDone(job.req)) == []


def test_removing_the_card_at_the_menu(flow: f.KioskFlow) -> None:
    to_menu(flow)
    effects = flow.handle(f.CardRemoved())
    assert only(effects, f.EndSession).session_id == "S1"
    assert flow.screen == S.ATTRACT and flow.resident is None


# ---------------------------------------------------------------- every screen's view


def _reach_every_screen(flow: f.KioskFlow, clock: FakeClock) -> list[f.ViewModel]:
    views = [flow.view()]
    read = only(flow.handle(f.CardInserted(CardKind.SOCIAL_SECURITY)), f.ReadCard)
    views.append(flow.view())
    flow.handle(f.CardRead(read.req, CARD))
    views.append(flow.view())
    opened = identify(flow)
    flow.handle(f.SessionOpened(opened.req, RESIDENT))
    views.append(flow.view())
    for button, loaded in (
        ("balance", lambda r: f.AccountLoaded(r, AccountSummary(1000, 1000))),
        (
            "contributions",
            lambda r: f.ContributionsLoaded(r, (Contribution(2020, "normal", 1, 1),)),
        ),
        ("payments", lambda r: f.PaymentsLoaded(r, (Payment("2026-01", 1),))),
    ):
        effects = flow.handle(f.Tap(button))
        views.append(flow.view())
        load = effects[-1]
        assert isinstance(load, f.LoadAccount | f.LoadContributions | f.LoadPayments)
        flow.handle(loaded(load.req))
        views.append(flow.view())
        flow.handle(f.Tap("back"))
    to_camera(flow)
    views.append(flow.view())
    for _ in range(flow.config.steady_frames):
        flow.handle(f.FrameAssessed(GOOD))
    views.append(flow.view())
    for action in CHALLENGE.actions:
        effects = flow.handle(f.ActionDetected(action))
    views.append(flow.view())
    submit = only(effects, f.Submit)
    job = only(flow.handle(f.CertificationDone(submit.req, PASSED)), f.PrintReceipt)
    views.append(flow.view())
    flow.handle(f.PrinterFault(job.req, "out_of_paper"))
    views.append(flow.view())
    flow.handle(f.Tap("help"))
    views.append(flow.view())
    flow.handle(f.Tap("help_close"))
    flow.handle(f.Tap("done"))
    views.append(flow.view())
    return views


def test_every_screen_has_help_words_in_both_languages_and_few_choices(
    flow: f.KioskFlow, clock: FakeClock
) -> None:
    views = _reach_every_screen(flow, clock)
    screens = {v.screen for v in views}
    assert {S.ATTRACT, S.READING, S.IDENTIFY, S.MENU, S.LOADING, S.BALANCE} <= screens
    assert {S.CAMERA, S.LIVENESS} <= screens
    assert {S.SUBMITTING, S.PRINTING, S.PRINT_FAULT, S.TAKE_CARD, S.PAYMENTS} <= screens
    for v in views:
        assert v.help is not None, v.screen
        assert v.title.zh and v.title.en, v.screen
        if v.screen not in (S.ATTRACT, S.TAKE_CARD):
            assert v.back is not None, v.screen
        assert len(v.buttons) <= 5, v.screen
        for b in v.buttons:
            assert b.icon and b.label.zh and b.label.en, (v.screen, b.id)
        if v.tone in ("success", "warning", "error") and v.screen != S.MENU:
            assert v.icon, f"{v.screen}: a tone needs a glyph, not colour alone"


def test_a_pass_is_spoken_with_its_date_and_the_take_card_prompt_repeats_it(
    flow: f.KioskFlow,
) -> None:
    submit = to_submit(flow)
    effects = flow.handle(f.CertificationDone(submit.req, PASSED))
    said = [e for e in effects if isinstance(e, f.Speak)]
    assert [s.key for s in said] == ["passed_printing"]
    assert said[0].text == "您已认证成功，有效期到二零二七年十一月三十日。正在打印凭条。"
    job = only(effects, f.PrintReceipt)
    effects = flow.handle(f.PrintDone(job.req))
    said = [e for e in effects if isinstance(e, f.Speak)]
    assert said and said[0].text is not None and said[0].text.startswith("认证成功。")


def test_after_a_failure_the_take_card_screen_does_not_say_all_done(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    flow.handle(f.CertificationDone(submit.req, CertificationResult("K", "failed")))
    effects = flow.handle(f.Tap("end"))
    said = [e for e in effects if isinstance(e, f.Speak)]
    assert flow.screen == S.TAKE_CARD
    body = flow.view().body.zh
    assert "办完了" not in body and "没有认证成功" in body
    assert said and said[-1].text is not None and "没有认证成功" in said[-1].text


def test_say_again_repeats_the_screens_prompt_word_for_word(flow: f.KioskFlow) -> None:
    submit = to_submit(flow)
    first = [
        e for e in flow.handle(f.CertificationDone(submit.req, PASSED)) if isinstance(e, f.Speak)
    ]
    again = flow.handle(f.Tap("repeat"))
    assert again == first and flow.view().voice == "passed_printing"
