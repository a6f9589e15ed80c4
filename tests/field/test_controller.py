"""The field app's controller without Kivy: the online sign, feedback when saving offline,
the confirmation after a face mismatch, the list on start, and words instead of codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from field_app.client import LastCertification, Unreachable
from field_app.controller import FieldController, SyncService
from field_app.flow import FieldFlow
from field_app.session import ONLINE_FRESH_S, FieldSession
from field_app.texts import T
from tests.field.conftest import PIN, FakeClient, FakeClock, fake_devices, walk_face


class QuietSync(SyncService):
    """The real service, minus its threads: the tests call beat_once themselves."""

    def __init__(self, flow: FieldFlow) -> None:
        super().__init__(flow, lambda: None)
        self.woken = 0

    def start(self) -> None:
        pass

    def wake(self) -> None:
        self.woken += 1

    def send_now(self, done: Callable[[], None] = lambda: None) -> None:
        done()  # a pass that could send nothing: no signal


class Typed:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def text(self, key: str) -> str:
        return str(self.values.get(key, ""))

    def checked(self, key: str) -> bool:
        return bool(self.values.get(key, False))


def controller(
    session: FieldSession, clock: FakeClock, distance: float | None = 0.42
) -> FieldController:
    flow = FieldFlow(session, fake_devices(distance), wall=clock, base_url="http://backend")
    if session.current is not None:
        flow.screen = "list"  # already signed in (the fixture): the app would show the list
    return FieldController(flow, sync=QuietSync(flow))


def face_visit(c: FieldController, person_id: str = "P1") -> None:
    c.tap(f"person:{person_id}")
    c.tap("start_face")
    walk_face(c.flow)
    c.tap("to_documents")
    c.tap("to_attest")


def test_online_only_while_the_backend_answered_recently(
    signed_in: FieldSession, clock: FakeClock, fake: FakeClient
) -> None:
    c = controller(signed_in, clock)
    view = c.flow.view()
    assert c.status(view).startswith("在线")
    clock.advance(ONLINE_FRESH_S + 1)  # walked out of signal: nothing has answered since
    assert c.status(view).startswith("离线")
    assert isinstance(c.sync, QuietSync)
    fake.up = True
    assert c.sync.beat_once() and c.status(view).startswith("在线")
    fake.up = False
    assert not c.sync.beat_once() and c.status(view).startswith("离线")
    # a failed send says offline at once, whatever the clock
    fake.up = True
    c.sync.beat_once()
    signed_in.reachable = False
    assert c.status(view).startswith("离线")


def test_unlocking_offline_says_offline_until_the_backend_answers(
    signed_in: FieldSession, clock: FakeClock, fake: FakeClient
) -> None:
    signed_in.lock()
    c = controller(signed_in, clock)
    fake.list.persons = []  # a fresh list would be empty: the kept one must stay
    fake_worklist = fake.worklist

    def no_signal(village: str | None = None) -> Any:
        raise Unreachable("no signal")

    fake.worklist = no_signal  # type: ignore[method-assign]
    c.tap("unlock", Typed(pin=PIN))
    assert c.flow.screen == "list" and c.status(c.flow.view()).startswith("离线")
    # the list kept on the device shows at once, without a tap on 更新名单, and no alarm
    assert [r["name"] for r in c.flow.view().rows] == ["王秀英", "李四", "张三", "赵六"]
    assert c.flow.view().tone != "warn"
    fake.worklist = fake_worklist  # type: ignore[method-assign]


def test_the_list_loads_right_after_the_first_sign_in(
    session: FieldSession, clock: FakeClock, fake: FakeClient
) -> None:
    c = controller(session, clock)
    assert not c.flow.persons()
    c.tap("sign_in", Typed(username="field_worker", password="pw", pin=PIN))
    assert c.flow.screen == "list" and not c.busy
    assert len(c.flow.view().rows) == 4 and ("worklist", None) in fake.calls


def test_saving_offline_says_so_and_counts_the_outbox(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    c = controller(signed_in, clock)
    clock.advance(ONLINE_FRESH_S + 1)
    face_visit(c)
    c.tap("save_cert", Typed(attest=True, note="卧床"))
    assert c.flow.screen == "list" and isinstance(c.sync, QuietSync) and c.sync.woken == 1
    message = c.flow.view().message
    assert "已保存，联网后自动上传" in message and "待发送 1" in message
    c.tap("show_outbox")
    c.tap("send_now")
    assert c.flow.view().message == "暂时离线：联网后自动上传（待发送 1）"
    signed_in.outbox().mark_done(signed_in.outbox().entries()[0].client_id, {"status": "x"})
    c.tap("send_now")  # back in signal, the outbox emptied: said so, not "offline"
    assert c.flow.view().message == "已全部发送" and c.flow.view().tone == "good"


def test_saving_online_keeps_the_plain_saved_message(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    c = controller(signed_in, clock)
    face_visit(c)
    c.tap("save_cert", Typed(attest=True))
    assert c.flow.view().message == T["saved"][0]


def test_attesting_after_a_mismatch_needs_a_second_explicit_confirmation(
    signed_in: FieldSession, clock: FakeClock
) -> None:
    c = controller(signed_in, clock, distance=0.84)
    c.tap("person:P1")
    c.tap("start_face")
    walk_face(c.flow)
    prelim = c.flow.view()
    assert prelim.data["verdict"] == "初步看不是本人" and prelim.data["mismatch"]
    # the safe choice (try again) comes first; going on is amber and says what to check
    actions = c.buttons(prelim)
    assert [a for a, _, _ in actions] == ["retry_face", "to_documents"]
    assert actions[1][1:] == ("仍要继续", "warn")
    c.tap("to_documents")
    c.tap("to_attest")
    attest = c.flow.view()
    assert attest.tone == "bad" and "不是本人" in attest.message
    c.tap("save_cert", Typed(attest=True))
    assert c.flow.screen == "attest" and "核对身份证" in c.flow.view().message
    assert signed_in.outbox().counts()["pending"] == 0
    c.tap("save_cert", Typed(attest=True, confirm_mismatch=True))
    assert c.flow.screen == "list"
    (entry,) = signed_in.outbox().entries()
    visit = signed_in.outbox().get(entry.client_id, open_visit=True).visit
    assert visit is not None and visit.preliminary["mismatch_confirmed"] is True


ENGLISH = re.compile(r"[A-Za-z]{3,}")


def _words(value: object) -> list[str]:
    if isinstance(value, dict):
        return [w for k, v in value.items() if k not in ("person_id",) for w in _words(v)]
    if isinstance(value, list | tuple):
        return [w for v in value for w in _words(v)]
    return [value] if isinstance(value, str) else []


def test_screens_show_words_not_codes(signed_in: FieldSession, clock: FakeClock) -> None:
    wl = signed_in.worklist()
    assert wl is not None
    wl.persons[0].last_certification = LastCertification(certified_on="2025-11-20", channel="kiosk")
    wl.persons[1].last_certification = LastCertification(
        certified_on="2025-11-21", channel="data_match"
    )
    signed_in.store.save_worklist(signed_in.vault, wl)
    c = controller(signed_in, clock, distance=0.39)
    seen: list[str] = []
    rows = c.flow.view().rows
    assert rows[0]["last"] == "上次 2025-11-20 自助机认证"
    assert rows[1]["last"] == "上次 2025-11-21 数据比对认证" and rows[2]["last"] == "从未认证"
    seen += _words(rows)
    c.tap("person:P1")
    seen += _words(c.flow.view().data)
    c.tap("start_face")
    walk_face(c.flow)
    prelim = c.flow.view()
    assert prelim.data["similarity"] == "相貌很像"
    seen += _words({k: v for k, v in prelim.data.items() if k != "distance"})
    for screen_view in (prelim, c.flow.view()):
        seen += [label for _, label, _ in c.buttons(screen_view)]
    assert seen and not [w for w in seen if ENGLISH.search(w)], seen
    assert not [w for w in seen if "(kiosk)" in w or "distance" in w]
