"""The typed client against the real backend app (in process, SQLite): its models parse the
server's real answers, and refusals come back as ApiError with the problem's stable code.

No mock: the app is backend.app.create_app on a migrated database, reached through the
test client's transport, so every request and answer crosses real HTTP handling.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from client import ClientProblem, InvalidAnswer, NongbaoClient, NongbaoError, mask_id, models

BASE = "http://testserver"


@pytest.fixture
def world(sqlite_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from backend.app import create_app
    from tests.backend.cert_helpers import ENROL_A, device, enrol_face
    from tests.backend.conftest import Api, bootstrap, make_settings, valid_id
    from tests.backend.test_field_routes import pensioner
    from tests.conftest import TODAY

    bootstrap(sqlite_url, tmp_path)
    app = create_app(make_settings(sqlite_url, tmp_path), today=lambda: TODAY)
    with TestClient(app) as http:
        api = Api(http)
        person_id = pensioner(api, "011", "欧阳娜娜")
        enrol_face(api, person_id, ENROL_A)
        kiosk = device(api)
        yield {
            "transport": http._transport,
            "kiosk_token": kiosk["Authorization"].removeprefix("Bearer "),
            "person_id": person_id,
            "id_number": valid_id("110105", "19500101", "011"),
        }


def client(world: dict[str, Any], token: str | None = None) -> NongbaoClient:
    return NongbaoClient(BASE, token=token, transport=world["transport"])


def test_a_field_worker_signs_in_reads_the_worklist_and_records_a_visit(world: dict) -> None:
    from tests.backend.conftest import PASSWORD

    with client(world) as api:
        token = api.sign_in("field_worker", PASSWORD)
        assert isinstance(token, models.Token) and token.role == "field_worker"
        worklist = api.worklist()
        (person,) = worklist.persons
        assert person.person_id == world["person_id"] and person.name == "欧阳娜娜"
        assert person.id_number == mask_id(world["id_number"])  # a field worker sees it masked
        challenge = api.challenge(world["person_id"])
        assert challenge.person_id == world["person_id"] and challenge.actions
        visit = models.VisitIn(
            client_id=str(uuid.uuid4()),
            person_id=world["person_id"],
            outcome="not_at_home",
            visited_at="2026-11-27T09:30:00+08:00",
        )
        recorded = api.visit(visit)
        assert recorded.person_id == world["person_id"] and recorded.outcome == "not_at_home"
        assert api.visit(visit).visit_id == recorded.visit_id  # idempotent by client id


def test_a_kiosk_session_reads_the_residents_own_data(world: dict) -> None:
    from tests.backend.cert_helpers import SAME_A, photo

    card = {"card_kind": "ssc", "id_number": world["id_number"], "name": "欧阳娜娜"}
    with client(world, world["kiosk_token"]) as api:
        opened = api.open_kiosk_session(card, photo(SAME_A))
        # masked by the backend with the one masking the apps use (client/masking.py)
        assert opened.name_masked == "欧***"
        assert opened.id_number_masked == mask_id(world["id_number"])
        assert opened.certification.due is True
        session = opened.session_token
        account = api.account(world["person_id"], session=session)
        assert account.balance_fen == sum(account.buckets.model_dump().values())
        assert api.contributions(world["person_id"], session=session) == []
        payments = api.payments(world["person_id"], session=session)
        assert payments.person_id == world["person_id"]
        api.close_kiosk_session(session)
        with pytest.raises(ClientProblem) as ended:
            api.account(world["person_id"], session=session)
        assert ended.value.code == "kiosk_session_ended" and ended.value.status == 401


@pytest.mark.parametrize(
    ("photo_name", "code"), [("OTHER", "face_mismatch"), ("SAME_A", "card_mismatch")]
)
def test_refusals_carry_the_problem_code(world: dict, photo_name: str, code: str) -> None:
    from tests.backend import cert_helpers

    name = "欧阳娜娜" if code == "face_mismatch" else "别人"
    card = {"card_kind": "ssc", "id_number": world["id_number"], "name": name}
    with client(world, world["kiosk_token"]) as api, pytest.raises(ClientProblem) as caught:
        api.open_kiosk_session(card, cert_helpers.photo(getattr(cert_helpers, photo_name)))
    assert caught.value.status == 403 and caught.value.code == code
    assert caught.value.detail and not caught.value.retryable


def test_a_wrong_password_and_an_unknown_route_are_api_errors(world: dict) -> None:
    with client(world) as api:
        with pytest.raises(ClientProblem) as caught:
            api.sign_in("field_worker", "wrong")
        assert caught.value.status == 401 and caught.value.code
        with pytest.raises(NongbaoError) as missing:
            api.call(models.Token, "GET", "/no/such/route")
        assert isinstance(missing.value, ClientProblem) and missing.value.code == "not_found"


def test_an_answer_that_does_not_fit_the_model_is_an_invalid_answer(world: dict) -> None:
    """The client checks the server's answers: /policy is not a Token."""
    from tests.backend.conftest import PASSWORD

    with client(world) as api:
        api.sign_in("admin", PASSWORD)
        with pytest.raises(InvalidAnswer):
            api.call(models.Token, "GET", "/policy")
