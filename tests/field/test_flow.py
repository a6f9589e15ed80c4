"""The visit state machine and the worker's session, without Kivy and without a backend."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from field_app.flow import FieldFlow
from field_app.session import FieldSession, SignInError
from field_app.store import Locked
from tests.field.conftest import (
    FRAME,
    ID_1,
    PIN,
    FakeClient,
    FakeClock,
    challenge,
    fake_devices,
    walk_face,
)


def fake_client(session: FieldSession) -> FakeClient:
    """The session's client: the conftest's FakeClient stands in for the backend."""
    return cast(FakeClient, session.client())


def flow_for(session: FieldSession, clock: FakeClock, **kw: Any) -> FieldFlow:
    return FieldFlow(session, fake_devices(**kw), wall=clock, base_url="http://backend")


def test_online_sign_in_sets_the_pin_then_the_pin_alone_opens_the_app_for_a_limited_time(
    session: FieldSession, clock: FakeClock
) -> None:
    flow = flow_for(session, clock)
    assert flow.screen == "sign_in"
    assert not flow.sign_in("field_worker", "wrong", PIN)
    assert "Sign-in refused" in flow.view().message or "用户名" in flow.view().message
    assert flow.sign_in("field_worker", "pw", PIN) and flow.screen == "list"

    session.lock()
    again = flow_for(session, clock)
    assert again.screen == "unlock"
    assert again.unlock(PIN) and session.current is not None and session.current.online is False
    clock.advance(3 * 86400 + 1)
    with pytest.raises(SignInError, match="limited to 3 days"):
        session.unlock_offline(PIN)


def test_a_non_field_worker_cannot_sign_in(session: FieldSession, fake: FakeClient) -> None:
    fake.role = "clerk"
    with pytest.raises(SignInError, match="field workers only"):
        session.sign_in_online("http://backend", "clerk", "pw", PIN)


def test_five_wrong_pins_wipe_the_cached_list_and_require_online_sign_in(
    signed_in: FieldSession,
) -> None:
    signed_in.lock()
    for n in range(4):
        with pytest.raises(SignInError, match=f"{4 - n} tries left"):
            signed_in.unlock_offline("000000")
    with pytest.raises(SignInError, match="Sign in online"):
        signed_in.unlock_offline("000000")
    with pytest.raises(SignInError, match="Sign in online"):
        signed_in.unlock_offline(PIN)  # the right PIN no longer opens it: the session is gone
    signed_in.sign_in_online("http://backend", "field_worker", "pw", PIN)
    assert signed_in.worklist() is None


def test_sign_out_keeps_unsent_visits_unless_discarded_and_wipes_the_list(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    assert flow.select("P3")
    flow.to_not_home()
    assert flow.save_not_home("门锁着")
    assert not flow.sign_out()
    assert "sync first" in flow.view().message or "同步" in flow.view().message
    assert signed_in.store.unsent() == 1 and signed_in.worklist() is not None
    assert flow.sign_out(discard_unsent=True)
    with pytest.raises(Locked):
        signed_in.store.unlock(PIN)
    assert signed_in.store.unsent() == 0


def test_the_list_comes_with_challenges_for_people_with_a_face_and_is_searchable(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    wl = signed_in.worklist()
    assert wl is not None
    assert {p.person_id: len(p.challenges) for p in wl.persons} == {
        "P1": 2,
        "P2": 2,
        "P3": 2,
        "P4": 0,
    }
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    assert [r["person_id"] for r in flow.view().rows] == ["P1", "P2", "P3", "P4"]
    flow.search("李")
    assert [r["person_id"] for r in flow.view().rows] == ["P2"]
    flow.search("0417")
    assert [r["name"] for r in flow.view().rows] == ["赵六"]
    # a refresh keeps the unused challenges instead of asking for new ones
    before = len([c for c in fake_client(signed_in).calls if c[0] == "challenge"])
    signed_in.download_worklist()
    assert len([c for c in fake_client(signed_in).calls if c[0] == "challenge"]) == before


def test_find_by_handbook_qr_id_card_or_not_at_all(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    assert (
        flow.scan_qr("https://nongbao.example/h?person=P2")
        and flow.draft
        and flow.draft.person.name == "李四"
    )
    flow.back()
    assert (
        flow.read_card(ID_1.lower(), "王秀英 ")
        and flow.draft
        and flow.draft.card == (ID_1, "王秀英")
    )
    flow.back()
    assert not flow.read_card("110105195001019999", "某人")
    assert flow.view().message.startswith("名单里没有此人")
    assert not flow.scan_qr("nongbao:person:P99")


def test_face_visit_guides_quality_runs_the_challenge_and_saves_to_the_outbox(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    flow = FieldFlow(
        signed_in, fake_devices(0.42, gate=["no_face", "too_small", None, "too_dark"]), wall=clock
    )
    flow.screen = "list"
    flow.read_card(ID_1, "王秀英")
    assert flow.start_face() and flow.screen == "face"
    shown = []
    for _ in range(30):
        if flow.screen != "face":
            break
        flow.frame(FRAME)
        shown.append(flow.view().message)
        clock.advance(0.1)
    assert shown[:4] == [
        "zh:no_face",
        "zh:too_small",
        "很好，请保持",
        "zh:too_dark",
    ]  # one bad frame starts over
    assert "请眨眨眼" in shown and "请向左转头" in shown
    assert flow.screen == "prelim"
    v = flow.view()
    assert (
        v.tone == "good" and v.data["verdict"] == "初步看是本人" and v.data["liveness_done"] is True
    )
    flow.to_documents()
    flow.take_document(FRAME)
    flow.to_attest()
    assert flow.save_certification(attested=False) is None and flow.view().message == "请先勾选确认"
    cid = flow.save_certification(attested=True, note="卧床")
    assert cid and flow.screen == "list" and flow.view().message.startswith("已保存")

    entry = signed_in.outbox().get(cid, open_visit=True)
    visit = entry.visit
    assert entry.state == "pending" and visit is not None and visit.kind == "certification"
    f = visit.fields
    assert f["challenge_id"] == "ch-P1-1" and f["id_number"] == ID_1 and f["name"] == "王秀英"
    assert (f["latitude"], f["longitude"], f["accuracy_m"]) == (30.123457, 104.5, 9.4)
    assert f["note"] == "卧床" and "亲眼见到" in f["attestation"] and f["listed_on"] == "2026-11-27"
    frames = json.loads(f["evidence"])["frames"]
    # every frame at least 1/7 s after the one before goes to the backend, which measures
    # liveness on them: here the test's clock stands still, so only the first one
    sampled = [x for x in frames if "sample" in x]
    assert [x["sample"] for x in sampled] == list(range(len(visit.frames))) and sampled
    assert min(x["ear"] for x in frames) == 0.12 and max(x["yaw"] for x in frames) == 22.0
    assert (
        len(visit.frames) >= 1
        and len(visit.documents) == 1
        and visit.preliminary == {"distance": 0.42, "verdict": "prelim_pass", "liveness_done": True}
    )
    # the used challenge is gone from the device: no second visit can carry it
    wl = signed_in.worklist()
    assert wl is not None and [c.challenge_id for c in wl.persons[0].challenges] == ["ch-P1-2"]


@pytest.mark.parametrize(
    ("distance", "verdict", "tone"),
    [(0.55, "prelim_grey", "warn"), (0.84, "prelim_fail", "bad"), (None, "prelim_unknown", "warn")],
)
def test_preliminary_result_is_only_a_guess(
    signed_in: FieldSession, clock: FakeClock, distance: float | None, verdict: str, tone: str
) -> None:
    flow = flow_for(signed_in, clock, distance=distance)
    flow.screen = "list"
    flow.select("P2")
    flow.start_face()
    walk_face(flow, step=lambda: clock.advance(0.1))
    assert flow.preliminary() == (verdict, tone) and flow.view().tone == tone


def test_retry_uses_the_second_challenge_and_no_face_or_no_challenge_is_explained(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    flow.select("P2")
    flow.start_face()
    walk_face(flow, step=lambda: clock.advance(0.1))
    assert (
        flow.retry_face()
        and flow.draft
        and flow.draft.face
        and flow.draft.face.challenge.challenge_id == "ch-P2-4"
    )
    flow.back()
    flow.back()
    flow.select("P4")
    assert not flow.start_face() and "没有登记人脸" in flow.view().message


def test_liveness_that_never_completes_times_out_and_says_so(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    class Stuck:
        def begin(self, actions: tuple[str, ...], wall: float) -> None:
            pass

        def feed(self, frame: object, wall: float) -> tuple[int, dict[str, object]]:
            return 0, {"t": wall, "face": True}

    devices = fake_devices()
    devices.watcher = Stuck()
    flow = FieldFlow(signed_in, devices, wall=clock)
    flow.screen = "list"
    flow.select("P1")
    flow.start_face()
    walk_face(flow, frames=100, step=lambda: clock.advance(1.0))
    assert flow.screen == "prelim" and flow.view().data["liveness_note"].startswith("动作没有做完")


def test_not_at_home_and_reported_dead(signed_in: FieldSession, clock: FakeClock) -> None:
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    flow.select("P3")
    flow.to_not_home()
    cid = flow.save_not_home("邻居说去女儿家了")
    flow.select("P4")
    flow.to_dead()
    assert flow.save_dead(False, "2026-11-20") is None
    dead = flow.save_dead(True, "2026-11-20", "儿子说的")
    out = signed_in.outbox()
    assert cid and dead
    home, death = out.get(cid, open_visit=True).visit, out.get(dead, open_visit=True).visit
    assert (
        home
        and home.kind == "not_at_home"
        and home.fields["note"] == "邻居说去女儿家了"
        and "challenge_id" not in home.fields
    )
    assert (
        death
        and death.kind == "reported_dead"
        and death.fields["date_of_death"] == "2026-11-20"
        and "去世" in death.fields["attestation"]
    )
    flow.show_outbox()
    rows = flow.view().rows
    assert [(r["kind"], r["state"], r["text"]) for r in rows] == [
        ("不在家", "pending", "等待发送"),
        ("报告去世", "pending", "等待发送"),
    ]
    flow.toggle_lang()
    assert flow.view().rows[0]["text"] == "waiting to send" and flow.view().title == "Outbox"


def test_a_challenge_carried_by_a_saved_visit_is_never_reused(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    flow = flow_for(signed_in, clock)
    flow.screen = "list"
    flow.select("P1")
    flow.start_face()
    walk_face(flow, step=lambda: clock.advance(0.1))
    flow.to_attest()
    assert flow.save_certification(True)
    # the app was killed before the challenge was struck off the cached list
    wl = signed_in.worklist()
    assert wl is not None
    wl.persons[0].challenges.insert(0, challenge("P1", 1))
    signed_in.store.save_worklist(signed_in.vault, wl)
    flow.select("P1")
    assert flow.start_face() and flow.draft and flow.draft.face
    assert flow.draft.face.challenge.challenge_id == "ch-P1-2"
