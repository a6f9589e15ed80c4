"""A receipt does not outlive its person: verification says where the person stands now
(valid | expired | person_deceased | revoked) with a line for people; forged stays
`genuine: false`; offline verification (no database) says only genuine and the slip's dates."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from backend import receipts
from backend.api.routes.receipts import signing_key
from tests.backend.cert_helpers import elder
from tests.backend.conftest import Api
from tests.backend.test_cli import nongbao
from tests.live import server_env


def _receipt(api: Api, pid: str, on: str) -> str:
    r = api.post(
        "/api/v1/certifications/manual",
        "clerk",
        json={"person_id": pid, "channel": "counter", "certified_on": on, "evidence": "柜台"},
    )
    assert r.status_code in (200, 201), r.text
    return str(r.json()["receipt"]["code"])


def _verify(api: Api, code: str) -> dict:
    r = api.client.get("/api/v1/receipts/verify", params={"code": code})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _record_death(api: Api, pid: str, on: str) -> None:
    """Through the API; a report that opens a pending termination is confirmed by a second
    person (four eyes), a direct settlement needs nothing more."""
    r = api.post(
        f"/api/v1/persons/{pid}/death",
        "clerk",
        json={"date_of_death": on, "source": "family_report"},
    )
    assert r.status_code in (200, 201, 202), r.text
    if r.status_code == 202:
        confirm = api.post(
            f"/api/v1/terminations/{r.json()['termination_id']}/confirm", "reviewer", json={}
        )
        assert confirm.status_code == 200, confirm.text


def test_a_valid_receipt_says_until_when(api: Api) -> None:
    pid = elder(api)
    answer = _verify(api, _receipt(api, pid, "2026-11-27"))
    assert answer["genuine"] is True and answer["status"] == "valid"
    assert answer["message"] == "genuine; certification valid until 2027-11-30"
    assert answer["valid_until"] == "2027-11-30"


def test_the_receipt_of_a_person_who_died_says_so(api: Api) -> None:
    pid = elder(api)
    code = _receipt(api, pid, "2026-11-20")
    _record_death(api, pid, "2026-11-25")
    answer = _verify(api, code)
    assert answer["genuine"] is True and answer["status"] == "person_deceased"
    assert answer["message"].startswith("genuine; the person has since died")


def test_an_old_receipt_is_genuine_but_expired(api: Api) -> None:
    pid = elder(api)
    state = api.client.app.state.nongbao  # type: ignore[attr-defined]
    today, state.today = state.today, lambda: date(2025, 6, 2)  # certified then, at the counter
    try:
        code = _receipt(api, pid, "2025-06-02")
    finally:
        state.today = today
    answer = _verify(api, code)
    assert answer["genuine"] is True and answer["status"] == "expired"
    assert answer["message"] == "genuine; the certification expired on 2026-06-30"


def test_a_cancelled_enrolment_or_an_unknown_receipt_is_revoked(api: Api) -> None:
    pid = elder(api)
    code = _receipt(api, pid, "2026-11-27")
    r = api.post(
        f"/api/v1/persons/{pid}/cancel",
        "clerk",
        json={"reason": "enrolled twice", "cancelled_on": "2026-11-27"},
    )
    assert r.status_code == 200, r.text
    assert _verify(api, code)["status"] == "revoked"
    # signed with the county's key, but no such receipt was ever issued (a stolen key, a
    # restored backup): genuine signature, and the county does not stand behind it
    key = signing_key(SimpleNamespace(app=api.client.app))  # type: ignore[arg-type]
    made_up = receipts.sign(
        key,
        receipts.Payload(
            receipt_id="rcp_never",
            what="certification",
            on="2026-11-27",
            person="张*",
            person_hash="0" * 10,
        ),
    )
    answer = _verify(api, made_up)
    assert answer["genuine"] is True and answer["status"] == "revoked"


def test_forged_codes_stay_not_genuine(api: Api) -> None:
    pid = elder(api)
    code = _receipt(api, pid, "2026-11-27")
    for bad in (code[:-4], code.replace("NB1.", "NB2.", 1), "x" * 3000, ""):
        assert _verify(api, bad) == {"genuine": False}


def test_offline_verification_says_genuine_and_the_dates_only(api: Api, tmp_path: Path) -> None:
    pid = elder(api)
    code = _receipt(api, pid, "2026-11-27")
    pub = tmp_path / "county.pub"
    pub.write_text(api.client.get("/api/v1/receipts/public-key").text)
    r = nongbao(
        ["receipts", "verify", code, "--public-key", str(pub), "--json"],
        server_env("sqlite://", tmp_path),
    )
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["genuine"] is True and answer["on"] == "2026-11-27"
    assert "status" not in answer  # offline there is no database to ask
