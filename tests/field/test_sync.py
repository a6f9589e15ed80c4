"""Sending the outbox: backoff with jitter, refusals in plain words, and, against the real
backend (in process), decisions coming back, idempotent resends and conflicts."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from field_app.client import FieldClient, Problem
from field_app.devices import AlwaysGoodGate, SequenceCamera, SimulatedWatcher, encode_jpeg
from field_app.flow import FieldFlow
from field_app.ports import Devices
from field_app.session import FieldSession
from field_app.store import DeviceStore
from field_app.sync import Backoff, Syncer, explain, meanwhile
from tests.backend.cert_helpers import ENROL_A, ENROL_B, LFW, OTHER, SAME_A, enrol_face
from tests.backend.conftest import PASSWORD, Api
from tests.backend.test_field_routes import pensioner
from tests.field.conftest import (
    PIN,
    FakeClient,
    FakeClock,
    FixedMatcher,
    Locator,
    fake_devices,
    problem,
    unreachable,
    walk_face,
)


def syncer(session: FieldSession, clock: FakeClock, seed: int = 7) -> Syncer:
    return Syncer(
        session.outbox(),
        session.client(),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(seed),
        backoff=Backoff(base=5, cap=300),
    )


def save_not_home(session: FieldSession, clock: FakeClock, person_id: str) -> str:
    flow = FieldFlow(
        session,
        Devices(AlwaysGoodGate(), SimulatedWatcher(), FixedMatcher(0.4), Locator(), encode_jpeg),
        wall=clock,
    )
    flow.screen = "list"
    assert flow.select(person_id)
    cid = flow.save_not_home("门锁着")
    assert cid
    return cid


# --- unit: backoff and plain words --------------------------------------------------------------


def test_backoff_grows_exponentially_is_capped_and_jittered() -> None:
    b, rng = Backoff(base=5, cap=300), random.Random(1)
    delays = [[b.delay(n, rng) for _ in range(200)] for n in range(1, 9)]
    for n, ds in enumerate(delays, start=1):
        ceiling = min(300, 5 * 2 ** (n - 1))
        assert ceiling / 2 <= min(ds) and max(ds) <= ceiling
        assert len({round(d, 6) for d in ds}) > 150  # jitter: phones do not retry in step
    assert max(delays[-1]) <= 300 and min(delays[-1]) >= 150


@pytest.mark.parametrize(
    ("status", "detail", "code"),
    [
        (401, "the token has expired; sign in again", "signed_out"),
        (
            409,
            "already certified on 2026-11-27 (channel kiosk): the visit is no longer needed",
            "certified_meanwhile",
        ),
        (422, "person p1 is terminated: nothing to certify", "person_died"),
        (409, "person p1 is terminated in the registry: no visit needed", "person_died"),
        (403, "this person is not in one of your villages", "not_assigned"),
        (404, "no person p1", "not_found"),
        (422, "this challenge has expired: request a new one", "challenge_expired"),
        (422, "this card is locked for today after repeated failed face checks", "locked_today"),
        (409, "this client_id was used for another certification", "conflict"),
        (422, "no usable face in `images`", "refused"),
    ],
)
def test_refusals_are_explained_in_plain_words(status: int, detail: str, code: str) -> None:
    why = explain(status, Problem(status=status, detail=detail))
    assert why.code == code and why.zh and why.en
    assert why.final is (code != "signed_out") and why.settled is (code == "certified_meanwhile")


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (409, "certified_meanwhile", "certified_meanwhile"),
        (409, "person_ended", "person_died"),
        (422, "person_ended", "person_died"),
        (403, "not_assigned", "not_assigned"),
        (422, "challenge_expired", "challenge_expired"),
        (422, "card_locked", "locked_today"),
        (422, "rule_refused", "refused"),
        (403, "forbidden", "forbidden"),
    ],
)
def test_the_problem_code_decides_not_the_wording(status: int, code: str, kind: str) -> None:
    """The detail is for staff and may change: a misleading one changes nothing."""
    misleading = "terminated, died, locked, expired, already certified, not in your villages"
    why = explain(status, Problem(status=status, code=code, detail=misleading))
    assert why.code == kind


@pytest.mark.parametrize(
    ("reasons", "zh", "en"),
    [
        (
            ["already_certified:kiosk:2026-11-20"],
            "此人已于 2026-11-20 在自助机完成认证，本次走访也已记录",
            "Already certified at a kiosk on 2026-11-20; this visit was recorded too",
        ),
        (
            ["grey_zone", "already_certified:counter:2026-11-21"],
            "此人已于 2026-11-21 在窗口完成认证，本次走访也已记录",
            "Already certified at the counter on 2026-11-21; this visit was recorded too",
        ),
        (
            ["already_certified:teleport:2026-11-22"],
            "此人已于 2026-11-22 通过teleport完成认证，本次走访也已记录",
            "Already certified through teleport on 2026-11-22; this visit was recorded too",
        ),
    ],
)
def test_a_visit_recorded_after_a_certification_elsewhere_is_said_plainly(
    reasons: list[str], zh: str, en: str
) -> None:
    note = meanwhile(reasons)
    assert note is not None and (note.zh, note.en) == (zh, en)
    assert meanwhile(["grey_zone", "liveness:no_blink"]) is None and meanwhile([]) is None


def test_a_not_at_home_refused_as_certified_meanwhile_names_the_channel_and_day() -> None:
    detail = "already certified on 2026-11-27 (channel counter): the visit is no longer needed"
    why = explain(409, Problem(status=409, detail=detail))
    assert why.code == "certified_meanwhile" and why.settled
    assert why.zh == "此人已于 2026-11-27 在窗口完成认证，无需再访"
    assert why.en == "Already certified at the counter on 2026-11-27: no visit needed"


def test_the_outbox_and_the_list_say_the_person_was_certified_meanwhile(
    signed_in: FieldSession, fake: FakeClient, clock: FakeClock
) -> None:
    flow = FieldFlow(signed_in, fake_devices(), wall=clock)
    flow.screen = "list"
    assert flow.select("P1") and flow.start_face()
    walk_face(flow, step=lambda: clock.advance(0.1))
    flow.to_attest()
    cid = flow.save_certification(True, "卧床")
    assert cid
    fake.script = [
        {
            "certification_id": "cer1",
            "outcome": "passed",
            "distance": 0.4,
            "reasons": ["already_certified:kiosk:2026-11-20"],
            "valid_until": "2027-11-30",
        }
    ]
    assert syncer(signed_in, clock).run_once().sent == [cid]
    result = signed_in.outbox().get(cid).result
    assert result and result["status"] == "recorded" and result["outcome"] == "passed"
    assert result["meanwhile"]["code"] == "recorded_certified_meanwhile"

    flow.show_outbox()
    row = flow.view().rows[0]
    assert row["tone"] == "good"
    assert (
        row["text"]
        == "认证通过 → 2027-11-30\n此人已于 2026-11-20 在自助机完成认证，本次走访也已记录"
    )
    flow.toggle_lang()
    assert (
        flow.view()
        .rows[0]["text"]
        .endswith("Already certified at a kiosk on 2026-11-20; this visit was recorded too")
    )
    flow.back()
    listed = next(r for r in flow.view().rows if r["person_id"] == "P1")
    assert listed["visit"].endswith("this visit was recorded too")


def test_network_failures_reschedule_with_backoff_and_the_loop_sleeps_until_due(
    signed_in: FieldSession, fake: FakeClient, clock: FakeClock
) -> None:
    cid = save_not_home(signed_in, clock, "P3")
    fake.script = [unreachable(), unreachable(), unreachable()]
    s = syncer(signed_in, clock)
    s.run(threading.Event(), idle_poll=1000, until_empty=True)
    entry = signed_in.outbox().get(cid)
    assert entry.state == "done" and entry.attempts == 4
    assert (
        len(clock.slept) == 3
        and 2.5 <= clock.slept[0] <= 5
        and 5 <= clock.slept[1] <= 10
        and 10 <= clock.slept[2] <= 20
    )
    assert [c[0] for c in fake.calls if c[0] in ("visit", "attach")] == ["visit"] * 4


def test_refused_visits_fail_with_the_reason_and_the_rest_still_go(
    signed_in: FieldSession, fake: FakeClient, clock: FakeClock
) -> None:
    a, b = save_not_home(signed_in, clock, "P3"), save_not_home(signed_in, clock, "P2")
    fake.script = [
        problem(403, "this person is not in one of your villages"),
        {"visit_id": b, "person_id": "P2", "outcome": "not_at_home", "recorded_on": "2026-11-27"},
    ]
    report = syncer(signed_in, clock).run_once()
    assert report.failed == [a] and report.sent == [b]
    failed = signed_in.outbox().get(a)
    assert (
        failed.state == "failed"
        and failed.result
        and failed.result["status"] == "not_assigned"
        and "moved away" in failed.result["en"]
    )


def test_an_expired_sign_in_keeps_the_visit_pending_and_stops(
    signed_in: FieldSession, fake: FakeClient, clock: FakeClock
) -> None:
    a, b = save_not_home(signed_in, clock, "P3"), save_not_home(signed_in, clock, "P2")
    fake.script = [problem(401, "the token has expired; sign in again")]
    report = syncer(signed_in, clock).run_once()
    assert report.needs_sign_in and report.sent == [] and report.failed == []
    assert [signed_in.outbox().get(c).state for c in (a, b)] == ["pending", "pending"]


# --- against the real backend ---------------------------------------------------------------


def rgb(name: str) -> np.ndarray:
    path = LFW / name.rsplit("_", 1)[0] / f"{name}.jpg"
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def show_face(flow: FieldFlow, image: np.ndarray, tick: Callable[[], None]) -> None:
    """The simulated camera in front of a photo's face (`SequenceCamera`: the face does the
    challenge's actions in 3-D once the liveness step starts), each new frame into the flow
    until the face check ends. The playback waits for each frame to be fed: no timing."""
    watcher = flow.dev.watcher
    assert isinstance(watcher, SimulatedWatcher)
    camera = SequenceCamera(image, watcher)
    try:
        seen = -1
        for _ in range(1_000_000):  # bounded; ends when the flow leaves the face screen
            frame = camera.latest()
            if flow.screen != "face":
                return
            if frame is None or frame.index == seen:
                time.sleep(0.01)
                continue
            seen = frame.index
            flow.frame(frame.image)
            tick()
        raise AssertionError("the face check never ended")
    finally:
        camera.close()


def real_session(api: Api, tmp_path: Path, clock: FakeClock) -> FieldSession:
    from field_app import vault as vlt

    def factory(base_url: str, token: str | None) -> FieldClient:
        # the app in process; FieldClient still speaks plain HTTP to it
        return FieldClient(base_url, token=token, transport=api.client._transport)

    session = FieldSession(
        DeviceStore(tmp_path / "dev" / "field.sqlite3", cost=vlt.FAST_COST),
        client_factory=factory,
        clock=clock,
    )
    session.sign_in_online("http://testserver", "field_worker", PASSWORD, PIN)
    # the phone made its capture key; the admin registers the public key as a field device
    r = api.post(
        "/api/v1/devices",
        "admin",
        json={"name": "phone", "kind": "field", "public_key": session.capture_key().public_b64},
    )
    assert r.status_code == 201, r.text
    return session


def face_visit(session: FieldSession, clock: Any, person_id: str, photo: str) -> str:
    from client import clock as product_clock

    # after the challenge was issued, as on a phone
    clock.now = max(clock.now, product_clock.timestamp())
    flow = FieldFlow(
        session,
        Devices(AlwaysGoodGate(), SimulatedWatcher(), FixedMatcher(0.4), Locator(), encode_jpeg),
        wall=clock,
    )
    flow.screen = "list"
    assert flow.select(person_id) and flow.start_face()
    show_face(flow, rgb(photo), lambda: clock.advance(0.05))
    flow.to_attest()
    cid = flow.save_certification(True, "卧床多年")
    assert cid
    return cid


class WallClock(FakeClock):
    """The product's time for the evidence (the backend checks it against the challenge),
    fake sleeps."""

    def __init__(self) -> None:
        from client import clock as product_clock

        super().__init__(product_clock.timestamp())


def test_decisions_come_back_resends_are_idempotent_and_a_failure_goes_to_review(
    api: Api, tmp_path: Path
) -> None:
    same, other, away = (
        pensioner(api, "011", "王秀英", homebound=True),
        pensioner(api, "021", "李四", homebound=True),
        pensioner(api, "031", "张三"),
    )
    enrol_face(api, same, ENROL_A)
    enrol_face(api, other, ENROL_B)  # one face for two people would be held as a possible duplicate
    clock = WallClock()
    session = real_session(api, tmp_path, clock)
    wl = session.download_worklist()
    assert [p.person_id for p in wl.persons] == [other, same, away] and all(
        len(p.challenges) == 2 for p in wl.persons[:2]
    )

    ok, bad, home = (
        face_visit(session, clock, same, SAME_A),
        face_visit(session, clock, other, OTHER),
        save_not_home(session, clock, away),
    )
    s = syncer(session, clock)
    report = s.run_once()
    assert report.sent == [ok, bad, home], report
    out = session.outbox()
    passed, failed, nobody = out.get(ok).result, out.get(bad).result, out.get(home).result
    assert passed is not None
    assert passed and passed["outcome"] == "passed", (passed["reasons"], passed["liveness"])
    assert (
        passed["outcome"] == "passed"
        and passed["valid_until"] == "2027-11-30"
        and passed["attachments"]["attestation"] is True
    )
    assert failed and failed["outcome"] == "failed" and "no_match" in failed["reasons"]
    assert nobody and nobody["outcome"] == "not_at_home"
    cases = [
        c
        for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
        if c["person_id"] == other
    ]
    assert len(cases) == 1 and cases[0]["reasons"][0] == "field_face_failed"

    # the answers were lost (the app was killed before writing them): everything is sent again
    session.store.conn.execute("UPDATE outbox SET state = 'sending'")
    again = s.run_once()
    assert again.sent == [ok, bad, home]
    assert out.get(ok).result["certification_id"] == passed["certification_id"]  # type: ignore[index]  # sent: has a result
    assert (
        len(
            [
                c
                for c in api.get("/api/v1/review/cases?status=open", "reviewer").json()
                if c["person_id"] == other
            ]
        )
        == 1
    )
    status = api.get(f"/api/v1/persons/{same}/certification", "clerk").json()
    assert (
        status["status"] == "certified"
        and status["last"]["certification_id"] == passed["certification_id"]
    )
    assert status["last"]["channel"] == "field"


def test_conflicts_come_back_in_plain_words(api: Api, tmp_path: Path) -> None:
    moved, certified, died = (
        pensioner(api, "011", "甲"),
        pensioner(api, "021", "乙"),
        pensioner(api, "031", "丙"),
    )
    enrol_face(api, died, ENROL_A)
    clock = WallClock()
    session = real_session(api, tmp_path, clock)
    session.download_worklist()
    a, b, c = (
        save_not_home(session, clock, moved),
        save_not_home(session, clock, certified),
        face_visit(session, clock, died, SAME_A),
    )

    assert (
        api.patch(
            f"/api/v1/persons/{moved}",
            "clerk",
            json={"village_code": "V002", "reason": "moved to her son's"},
        ).status_code
        == 200
    )
    assert (
        api.post(
            "/api/v1/certifications/manual",
            "clerk",
            json={
                "person_id": certified,
                "channel": "counter",
                "certified_on": "2026-11-27",
                "evidence": "hall",
            },
        ).status_code
        == 201
    )
    assert (
        api.end(died, {"date_of_death": "2026-11-01", "source": "family_report"}).status_code == 200
    )

    report = syncer(session, clock).run_once()
    assert report.failed == [a, c] and report.sent == [b]
    out = session.outbox()
    assert out.get(a).result["status"] == "not_assigned"  # type: ignore[index]  # sent: has a result
    assert out.get(b).state == "done" and out.get(b).result["status"] == "certified_meanwhile"  # type: ignore[index]  # sent: has a result
    assert out.get(c).result["status"] == "person_died"  # type: ignore[index]  # sent: has a result


def test_a_face_visit_after_a_counter_certification_is_recorded_and_explained(
    api: Api, tmp_path: Path
) -> None:
    pid = pensioner(api, "011", "王秀英", homebound=True)
    enrol_face(api, pid, ENROL_A)
    clock = WallClock()
    session = real_session(api, tmp_path, clock)
    session.download_worklist()
    cid = face_visit(session, clock, pid, SAME_A)
    # while the worker was out of signal, the family took her to the counter
    counter = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={
            "person_id": pid,
            "channel": "counter",
            "certified_on": "2026-11-27",
            "evidence": "hall",
        },
    )
    assert counter.status_code == 201, counter.text

    assert syncer(session, clock).run_once().sent == [cid]
    result = session.outbox().get(cid).result
    assert result and result["outcome"] == "passed", result
    assert result["reasons"] == ["already_certified:counter:2026-11-27"]
    assert result["meanwhile"]["zh"] == "此人已于 2026-11-27 在窗口完成认证，本次走访也已记录"
    assert result["attachments"]["attestation_document_id"]
    last = api.get(f"/api/v1/persons/{pid}/certification", "clerk").json()["last"]
    assert last["channel"] == "field" and last["certification_id"] == result["certification_id"]
    kinds = [d["kind"] for d in api.get(f"/api/v1/persons/{pid}/documents", "clerk").json()]
    assert kinds == ["field_attestation"]
