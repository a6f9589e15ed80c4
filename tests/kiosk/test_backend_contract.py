"""HttpKioskBackend against the real backend app (in process, SQLite): the contract holds.

A resident enrolled with a real photo opens a kiosk session with another photo of the same
person, reads the account, gets a challenge and certifies; an impostor's photo is refused.
The per-frame liveness measurements are synthesized (there is no video of the actions),
like the backend's own end-to-end tests; the sampled frame is the real photo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from client import clock
from kiosk_app.backend import HttpKioskBackend, Refused
from kiosk_app.models import CardInfo, CardKind, LivenessEvidence
from tests.liveness_frames import genuine_capture

NEUTRAL = {"face": True, "ear": 0.30, "mar": 0.10, "yaw": 0.0, "aspect": 1.0}
ACTION = {"blink": {"ear": 0.12}, "turn_left": {"yaw": 22.0}, "turn_right": {"yaw": -22.0}}
ACTION["open_mouth"] = {"mar": 0.40}


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[dict]:
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from tests.backend.cert_helpers import ENROL_A, device, elder, enrol_face
    from tests.backend.conftest import Api, bootstrap, make_settings, valid_id
    from tests.conftest import TODAY

    bootstrap(sqlite_url, tmp_path)
    app = create_app(make_settings(sqlite_url, tmp_path), today=lambda: TODAY)
    with TestClient(app) as client:
        api = Api(client)
        person_id = elder(api)
        enrol_face(api, person_id, ENROL_A)
        kiosk = device(api)
        token = kiosk["Authorization"].removeprefix("Bearer ")
        backend = HttpKioskBackend(
            "http://testserver", token, transport=client._transport, capture_key=kiosk.key
        )
        card = CardInfo(CardKind.SOCIAL_SECURITY, valid_id("110105", "19500101", "011"), "张三")
        yield {
            "backend": backend,
            "card": card,
            "person_id": person_id,
            "api": api,
            "client": client,
            "token": token,
        }
        backend.close()


def measurements(actions: tuple[str, ...]) -> tuple[dict[str, object], ...]:
    t = clock.timestamp()
    frames: list[dict[str, object]] = []

    def add(**values: float) -> None:
        nonlocal t
        frames.append({"t": round(t, 3), **NEUTRAL, **values} if values else
                      {"t": round(t, 3), **NEUTRAL, "sample": 0})  # fmt: skip
        t += 0.05

    for _ in range(3):
        add()
    for action in actions:
        add(**ACTION[action])
        add()
        add()
    return tuple(frames)


def test_session_account_challenge_certification(world: dict) -> None:
    from tests.backend.cert_helpers import OTHER, SAME_A, photo

    backend: HttpKioskBackend = world["backend"]
    with pytest.raises(Refused) as caught:
        backend.open_session(world["card"], photo(OTHER))
    assert caught.value.reason == "not_recognised"
    resident = backend.open_session(world["card"], photo(SAME_A))
    assert resident.person_id == world["person_id"]
    assert resident.name_masked == "张*"
    account = backend.get_account(resident)
    assert account.balance_fen >= 0
    challenge = backend.get_challenge(resident)
    assert 2 <= len(challenge.actions) <= 4
    # the face doing the challenge (the server measures liveness on the frames themselves)
    frames, items = genuine_capture(photo(SAME_A), challenge.actions, clock.timestamp())
    hints: list[dict[str, object]] = [{**i} for i in items]
    evidence = LivenessEvidence(
        challenge.challenge_id, challenge.nonce, challenge.actions, (), tuple(hints)
    )
    result = backend.submit_certification(
        resident, [photo(SAME_A)], frames, evidence, "kiosk-contract-1"
    )
    assert result.outcome == "passed", result
    assert result.valid_until is not None and result.receipt is not None
    again = backend.submit_certification(
        resident, [photo(SAME_A)], frames, evidence, "kiosk-contract-1"
    )
    assert again.certification_id == result.certification_id  # idempotent retry
    # the receipt's QR code opens the county's public page, which verifies it
    from urllib.parse import quote

    page = world["client"].get(f"/r/{quote(result.receipt.code, safe='')}")
    assert page.status_code == 200 and "真实有效" in page.text, page.text
    assert world["client"].get("/r/forged-code").text.count("不是本县签发的凭条") == 1


def test_unknown_card_is_not_enrolled(world: dict) -> None:
    from tests.backend.cert_helpers import SAME_A, photo

    stranger = CardInfo(CardKind.ID_CARD, "110105195001010012", "陌生人")
    with pytest.raises(Refused) as caught:
        world["backend"].open_session(stranger, photo(SAME_A))
    assert caught.value.reason in ("not_enrolled", "not_recognised")


def test_a_name_variant_on_the_card_is_a_card_cause_not_a_face_one(world: dict) -> None:
    """王秀蘭 on the card, 王秀兰 in the registry: the code says the card, not the face."""
    from tests.backend.cert_helpers import SAME_A, photo

    card: CardInfo = world["card"]
    variant = CardInfo(card.kind, card.id_number, "張三")  # the registry has 张三
    with pytest.raises(Refused) as caught:
        world["backend"].open_session(variant, photo(SAME_A))
    assert caught.value.reason == "card_mismatch"
    assert caught.value.status == 403


def test_the_days_last_failure_opens_a_case_then_the_card_is_locked(world: dict) -> None:
    """Three failed face checks: the third opens a review case (staff will call), and the
    next attempt is refused with the machine code `card_locked`."""
    from tests.backend.cert_helpers import OTHER, SAME_A, photo

    backend: HttpKioskBackend = world["backend"]
    resident = backend.open_session(world["card"], photo(SAME_A))
    for attempt in range(3):
        challenge = backend.get_challenge(resident)
        frames, items = genuine_capture(photo(OTHER), challenge.actions, clock.timestamp())
        evidence = LivenessEvidence(
            challenge.challenge_id,
            challenge.nonce,
            challenge.actions,
            (),
            tuple({**i} for i in items),
        )
        result = backend.submit_certification(
            resident, [photo(OTHER)], frames, evidence, f"kiosk-fail-{attempt}"
        )
        assert result.outcome == "failed", result
    answer = world["api"].get("/api/v1/review/cases", role="reviewer")
    assert answer.status_code == 200, answer.text
    cases = answer.json()
    mine = [c for c in cases if c["person_id"] == world["person_id"]]
    assert len(mine) == 1 and "repeated_failures" in str(mine[0]["reasons"])
    with pytest.raises(Refused) as caught:
        challenge = backend.get_challenge(resident)
        frames, items = genuine_capture(photo(SAME_A), challenge.actions, clock.timestamp())
        evidence = LivenessEvidence(
            challenge.challenge_id,
            challenge.nonce,
            challenge.actions,
            (),
            tuple({**i} for i in items),
        )
        backend.submit_certification(resident, [photo(SAME_A)], frames, evidence, "kiosk-4")
    assert caught.value.reason == "card_locked"


def test_the_challenge_carries_the_countys_actions_and_seconds(world: dict) -> None:
    """Policy face.challenge_actions = 2 and action_seconds = 12 (the defaults, tuned for the
    elderly) reach the kiosk with every challenge."""
    from tests.backend.cert_helpers import SAME_A, photo

    backend: HttpKioskBackend = world["backend"]
    resident = backend.open_session(world["card"], photo(SAME_A))
    for _ in range(3):
        challenge = backend.get_challenge(resident)
        assert len(challenge.actions) == 2
        assert challenge.seconds_per_action == 12


def test_call_staff_reaches_the_consoles_help_list(world: dict) -> None:
    """请工作人员帮忙: kiosk_app.help_request posts to the backend, the console lists it."""
    from kiosk_app.help_request import HttpHelpRequests
    from tests.backend.conftest import PASSWORD

    client = world["client"]
    helps = HttpHelpRequests("http://testserver", world["token"], transport=client._transport)
    assert helps.send("liveness")
    # an outsider cannot post one
    stranger = HttpHelpRequests("http://testserver", "nope", transport=client._transport)
    assert not stranger.send("menu")
    bad = client.post(
        "/api/v1/kiosk/help-requests",
        json={"screen": "<script>"},
        headers={"Authorization": f"Bearer {world['token']}"},
    )
    assert bad.status_code == 422 and bad.json()["code"]
    login = client.post(
        "/console/login",
        data={"username": "reviewer", "password": PASSWORD},
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text
    page = client.get("/console/help-requests")
    assert page.status_code == 200
    assert "liveness" in page.text and "自助机求助" in page.text
    assert page.text.count("<tr>") == 2  # the header and the one request
