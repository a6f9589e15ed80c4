"""The kiosk's backend clients: HTTP (against a mock transport) and the simulation."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest

from kiosk_app.backend import (
    HttpKioskBackend,
    KioskBackend,
    Refused,
    SimulatedKioskBackend,
    Unreachable,
    demo_card,
    id_check_char,
    mask_id,
    mask_name,
    refusal_reason,
    valid_until_after,
)
from kiosk_app.models import CardInfo, CardKind, LivenessEvidence

from .conftest import CARD, RESIDENT

SESSION = {
    "session_id": "S9",
    "person_id": "P1",
    "name_masked": "王*英",
    "id_number_masked": "110105********002X",
    "status": "receiving",
    "certification": {"valid_until": "2026-10-31", "due": True},
}


def client(handler, timeout: float = 5.0) -> HttpKioskBackend:
    return HttpKioskBackend(
        "http://backend.test/", "dev-token", timeout, transport=httpx.MockTransport(handler)
    )


def test_open_session_posts_card_and_photo_with_the_device_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=SESSION)

    resident = client(handler).open_session(CARD, b"\xff\xd8face")
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/api/v1/kiosk/sessions"
    assert request.headers["Authorization"] == "Bearer dev-token"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.content
    for needle in (b'name="id_number"', CARD.id_number.encode(), b'name="name"', b'name="image"'):
        assert needle in body
    assert b"\xff\xd8face" in body and b'name="card_kind"' in body
    assert resident.session_id == "S9" and resident.person_id == "P1"
    assert resident.certification_valid_until == date(2026, 10, 31)
    assert resident.certification_due is True


def test_open_session_with_the_leads_backend_answer() -> None:
    """The answer of backend/api/routes/kiosk.py: a token and the header to carry it in."""
    answer = {
        "session_token": "tok.mac",
        "person_id": "per_1",
        "expires_in": 180,
        "header": "X-Resident-Session",
    }
    headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/kiosk/sessions"):
            return httpx.Response(201, json=answer)
        headers.append(request.headers.get("X-Resident-Session"))
        return httpx.Response(200, json={"balance_fen": 1, "buckets": {}})

    backend = client(handler)
    resident = backend.open_session(CARD, b"jpg")
    assert (resident.session_id, resident.person_id) == ("tok.mac", "per_1")
    assert resident.name_masked == "王**"  # masked from the card, as the backend masks
    assert resident.id_number_masked == "110105********002X"
    assert resident.status == "unknown"
    backend.get_account(resident)
    assert headers == ["tok.mac"]


@pytest.mark.parametrize(
    ("status", "problem", "reason"),
    [
        (
            403,
            {"type": "https://nongbao.example/problems/forbidden", "detail": "face"},
            "not_recognised",
        ),
        (404, {"type": "about:blank", "detail": "no such person"}, "not_enrolled"),
    ],
)
def test_open_session_refusals(status: int, problem: dict, reason: str) -> None:
    backend = client(lambda r: httpx.Response(status, json=problem))
    with pytest.raises(Refused) as caught:
        backend.open_session(CARD, b"jpg")
    assert caught.value.reason == reason


def test_person_routes_carry_the_resident_session() -> None:
    answers = {
        "/api/v1/persons/P1/account": {
            "balance_fen": 12345,
            "buckets": {"personal_fen": 10000, "government_fen": 2345},
            "entries": [],
        },
        "/api/v1/persons/P1/contributions": [  # the lead's backend answers a bare list
            {"year": 2024, "kind": "normal", "personal_fen": 30000, "government_fen": 4000},
            {"year": 2023, "kind": "normal", "personal_fen": 1, "reversed": True},
        ],
        "/api/v1/persons/P1/payments": {
            "payments": [{"period": "2026-10", "total_fen": 14300, "basic_fen": 14300}]
        },
    }
    sessions: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sessions.append(request.headers.get("X-Resident-Session"))
        assert request.method == "GET"
        return httpx.Response(200, json=answers[request.url.path])

    backend = client(handler)
    account = backend.get_account(RESIDENT)
    assert (account.balance_fen, account.personal_fen, account.government_fen) == (
        12345,
        10000,
        2345,
    )
    [contribution] = backend.get_contributions(RESIDENT)
    assert (contribution.year, contribution.total_fen) == (2024, 34000)
    [payment] = backend.get_payments(RESIDENT)
    assert (payment.period, payment.total_fen) == ("2026-10", 14300)
    assert sessions == ["S1", "S1", "S1"]


def test_challenge_and_certification_multipart() -> None:
    seen: dict[str, httpx.Request] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request
        if request.url.path == "/api/v1/challenges":
            return httpx.Response(
                201,
                json={
                    "challenge_id": "C7",
                    "nonce": "n7",
                    "actions": ["blink", "turn_left"],
                    "expires_at": "2026-11-27T12:05:00+08:00",
                },
            )
        return httpx.Response(
            201,
            json={
                "certification_id": "K1",
                "outcome": "passed",
                "distance": 0.31,
                "reasons": [{"code": "match", "zh": "人脸比对通过", "en": "match"}],
                "valid_until": "2027-11-30",
                "receipt": {"receipt_id": "R1", "code": "NB1.abc"},
            },
        )

    backend = client(handler)
    challenge = backend.get_challenge(RESIDENT)
    assert challenge.actions == ("blink", "turn_left") and challenge.nonce == "n7"
    assert json.loads(seen["/api/v1/challenges"].content) == {"person_id": "P1"}
    evidence = LivenessEvidence(
        "C7", "n7", ("blink", "turn_left"), (1.5, 2.0), ({"t": 1.0, "face": True, "sample": 0},)
    )
    result = backend.submit_certification(
        RESIDENT, [b"\xff\xd8photo"], [b"\xff\xd8f1", b"\xff\xd8f2"], evidence, "C7-key"
    )
    assert result.outcome == "passed" and result.reasons == ("match",)
    assert result.valid_until == date(2027, 11, 30)
    assert result.receipt is not None and result.receipt.code == "NB1.abc"
    request = seen["/api/v1/certifications"]
    assert request.headers["Idempotency-Key"] == "C7-key"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.content
    for needle in (b'name="person_id"', b'name="channel"', b"kiosk", b'name="evidence"'):
        assert needle in body
    assert body.count(b'name="images"') == 1 and body.count(b'name="frames"') == 2
    assert b'"timings_s":[1.5,2.0]' in body
    assert b'"frames":[{"t":1.0,"face":true,"sample":0}]' in body


@pytest.mark.parametrize(
    ("status", "problem", "reason"),
    [
        (404, {"type": "https://nongbao.example/problems/not-enrolled"}, "not_enrolled"),
        (422, {"code": "card_locked", "detail": "今日次数已用完"}, "card_locked"),
        (403, {"title": "Forbidden"}, "device_not_authorised"),
        (409, {"type": "about:blank"}, "conflict"),
    ],
)
def test_refusals_carry_a_reason(status: int, problem: dict, reason: str) -> None:
    backend = client(
        lambda r: httpx.Response(
            status, json=problem, headers={"Content-Type": "application/problem+json"}
        )
    )
    with pytest.raises(Refused) as caught:
        backend.get_account(RESIDENT)
    assert caught.value.reason == reason and caught.value.status == status
    if "detail" in problem:
        assert caught.value.detail == problem["detail"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("session_expired", "session_expired"),
        ("kiosk_session_ended", "session_expired"),
        ("card_locked", "card_locked"),
        ("some_new_code", "some_new_code"),
    ],
)
def test_refusal_reason_comes_from_the_problem_code(code: str, reason: str) -> None:
    problem = {"type": "x/forbidden", "code": code, "detail": "words for staff"}
    backend = client(lambda r: httpx.Response(403, json=problem))
    with pytest.raises(Refused) as caught:
        backend.get_account(RESIDENT)
    assert caught.value.reason == reason and caught.value.detail == "words for staff"


def test_refusal_reason_never_comes_from_the_english_detail() -> None:
    """The detail is written for staff: its words may change, the code does not."""
    detail = "the resident session has expired: this card is locked"
    problem = {"type": "x/forbidden", "code": "forbidden", "detail": detail}
    backend = client(lambda r: httpx.Response(403, json=problem))
    with pytest.raises(Refused) as caught:
        backend.get_account(RESIDENT)
    assert caught.value.reason == "forbidden"


def test_refusal_reason_from_nothing() -> None:
    assert refusal_reason(418, {}) == "other"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        "500",
        "not-json",
        "list",
    ],
)
def test_network_and_server_trouble_is_unreachable(failure: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        if failure == "500":
            return httpx.Response(503, text="down")
        if failure == "list":
            return httpx.Response(200, json=[1, 2])
        return httpx.Response(200, text="<html>proxy login</html>")

    with pytest.raises(Unreachable):
        client(handler).get_account(RESIDENT)


def test_close_session_tolerates_an_unknown_session() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        return httpx.Response(404, json={"title": "gone"})

    client(handler).close_session("S1")
    assert calls == ["DELETE /api/v1/kiosk/sessions/S1"]


def test_both_backends_satisfy_the_protocol() -> None:
    assert isinstance(SimulatedKioskBackend(), KioskBackend)
    assert isinstance(client(lambda r: httpx.Response(200)), KioskBackend)


# ---------------------------------------------------------------- the simulation


def sim(today: date = date(2026, 11, 27)) -> SimulatedKioskBackend:
    return SimulatedKioskBackend(today=lambda: today)


MEASURED: tuple[dict[str, object], ...] = ({"t": 1.0, "face": True},)


def certify(backend: SimulatedKioskBackend, card: CardInfo, key: str = "k1"):
    resident = backend.open_session(card, b"jpg")
    challenge = backend.get_challenge(resident)
    evidence = LivenessEvidence(
        challenge.challenge_id, challenge.nonce, challenge.actions, (), MEASURED
    )
    return (
        resident,
        challenge,
        backend.submit_certification(resident, [b"jpg"], [b"f"], evidence, key),
    )


def test_demo_ids_are_valid_and_masked() -> None:
    for i in range(5):
        card = demo_card(i)
        assert id_check_char(card.id_number[:17]) == card.id_number[17]
    assert mask_id("11010519491231002X") == "110105********002X"
    # one masking for the kiosk and the backend (client/masking.py): the family name only
    assert mask_name("王秀英") == "王**" and mask_name("张明") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"


def test_valid_until_is_the_end_of_the_month_a_year_later() -> None:
    assert valid_until_after(date(2026, 3, 15)) == date(2027, 3, 31)
    assert valid_until_after(date(2027, 2, 10)) == date(2028, 2, 29)


def test_simulated_certification_passes_and_moves_the_validity() -> None:
    backend = sim()
    resident, _, result = certify(backend, demo_card(0))
    assert resident.certification_due and resident.name_masked == "王**"
    assert result.outcome == "passed" and result.valid_until == date(2027, 11, 30)
    assert result.receipt is not None
    again = backend.open_session(demo_card(0), b"jpg")
    assert again.certification_due is False
    assert again.certification_valid_until == date(2027, 11, 30)


def test_simulated_challenge_is_single_use_and_idempotency_holds() -> None:
    backend = sim()
    resident, challenge, first = certify(backend, demo_card(0), key="same")
    evidence = LivenessEvidence(challenge.challenge_id, challenge.nonce, challenge.actions)
    assert backend.submit_certification(resident, [b"x"], [], evidence, "same") == first
    with pytest.raises(Refused) as caught:
        backend.submit_certification(resident, [b"x"], [], evidence, "other")
    assert caught.value.reason == "challenge_used"
    assert len(backend.certifications) == 1


def test_simulated_failures_lock_the_card_for_the_day() -> None:
    backend = sim()
    resident = backend.open_session(demo_card(0), b"jpg")
    backend.set_face(0, "fail")  # the face engine now says no
    for n in range(3):
        challenge = backend.get_challenge(resident)
        evidence = LivenessEvidence(
            challenge.challenge_id, challenge.nonce, challenge.actions, (), MEASURED
        )
        result = backend.submit_certification(resident, [b"x"], [], evidence, f"k{n}")
        assert result.outcome == "failed" and result.receipt is None
    with pytest.raises(Refused) as caught:
        backend.get_challenge(resident)
    assert caught.value.reason == "card_locked"


def test_simulated_session_needs_the_holders_face() -> None:
    backend = sim()
    with pytest.raises(Refused) as caught:
        backend.open_session(demo_card(0))
    assert caught.value.reason == "photo_required"
    with pytest.raises(Refused) as caught:
        backend.open_session(demo_card(4), b"jpg")
    assert caught.value.reason == "not_recognised"
    backend.require_photo = False
    assert backend.open_session(demo_card(0)).person_id == "P0001"


def test_simulated_referral_and_wrong_actions() -> None:
    backend = sim()
    _, _, result = certify(backend, demo_card(3))
    assert result.outcome == "referred" and result.valid_until is None
    resident = backend.open_session(demo_card(0), b"jpg")
    challenge = backend.get_challenge(resident)
    evidence = LivenessEvidence(challenge.challenge_id, challenge.nonce, ("smile",), (), MEASURED)
    assert backend.submit_certification(resident, [b"x"], [], evidence, "w").outcome == "failed"


def test_simulated_refusals_and_outage() -> None:
    backend = sim()
    with pytest.raises(Refused) as caught:
        backend.open_session(CardInfo(CardKind.ID_CARD, "110105195001010012", "陌生人"), b"j")
    assert caught.value.reason == "not_enrolled"
    contributor = backend.open_session(demo_card(2), b"jpg")
    assert contributor.status == "enrolled" and not contributor.certification_due
    with pytest.raises(Refused):
        backend.get_challenge(contributor)
    backend.close_session(contributor.session_id)
    with pytest.raises(Refused) as caught:
        backend.get_account(contributor)
    assert caught.value.reason == "session_expired"
    backend.online = False
    with pytest.raises(Unreachable):
        backend.open_session(demo_card(0), b"jpg")


def test_simulated_figures_are_consistent() -> None:
    backend = sim()
    resident = backend.open_session(demo_card(1), b"jpg")
    account = backend.get_account(resident)
    assert account.balance_fen == (
        account.personal_fen + account.government_fen + account.collective_fen + account.other_fen
    )
    contributions = backend.get_contributions(resident)
    assert account.government_fen == sum(c.government_fen for c in contributions)
    payments = backend.get_payments(resident)
    assert payments[0].period == "2022-04" and payments[-1].period == "2026-10"
    assert all(p.total_fen == p.basic_fen + p.account_fen for p in payments)
    drawn = sum(p.account_fen for p in payments)
    assert account.personal_fen == sum(c.personal_fen for c in contributions) - drawn
