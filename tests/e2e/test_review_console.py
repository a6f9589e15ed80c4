"""The review console in a real browser (headless Chromium) against a live server: sign in,
open a referred case (its form offers terminate, with the reason and date), approve it; and
the four-eyes refusal of a suspension.

Data is made through the HTTP API with real face photos (liveness measurements synthesized
from the challenge). Screenshots go to artifacts/screenshots/review/<database>/.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa

from backend.db import engine_for
from client.capture import DeviceKey
from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    ENROL_B,
    GREY_B,
    SAME_A,
    enrol_files,
    photo,
    sign,
    synthesized_evidence,
)
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import live_server


def _token(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _referred_case(
    base: str, seq: str, name: str, enrol: str, capture: str, *, static: bool = False
) -> str:
    """A kiosk certification referred to review (grey zone, or liveness failed when the
    synthesized evidence is a still photo). Returns the person id."""
    clerk, admin = _token(base, "clerk"), _token(base, "admin")
    pid = httpx.post(
        f"{base}/api/v1/persons",
        headers=clerk,
        json={
            "id_number": valid_id("110105", "19480302", seq),
            "name": name,
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        },
    ).json()["person_id"]
    r = httpx.post(
        f"{base}/api/v1/persons/{pid}/face",
        headers=clerk,
        files=enrol_files(enrol, COMPANION[enrol]),
        timeout=60,
    )
    assert r.status_code == 201, r.text
    key = DeviceKey.generate()  # made on the kiosk; only the public key is registered
    kiosk = {
        "Authorization": "Bearer "
        + httpx.post(
            f"{base}/api/v1/devices",
            headers=admin,
            json={"name": f"kiosk-{seq}", "kind": "kiosk", "public_key": key.public_b64},
        ).json()["token"]
    }
    r = httpx.post(f"{base}/api/v1/challenges", headers=kiosk, json={"person_id": pid})
    assert r.status_code == 201, r.text
    ch = r.json()
    data = {
        "person_id": pid,
        "channel": "kiosk",
        "challenge_id": ch["challenge_id"],
        "nonce": ch["nonce"],
        "evidence": synthesized_evidence(ch, static=static),
        "latitude": "30.65",
        "longitude": "104.06",
        "accuracy_m": "8",
    }
    files = [
        ("images", ("c.jpg", photo(capture), "image/jpeg")),
        ("frames", ("f.jpg", photo(capture), "image/jpeg")),
    ]
    data = sign(key, data, files)
    r = httpx.post(
        f"{base}/api/v1/certifications", headers=kiosk, data=data, files=files, timeout=60
    )
    assert r.json().get("outcome") == "referred", r.text
    return pid


def _login(page, base: str, user: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-button")
    page.wait_for_url(f"{base}/console/cases")


def test_reviewer_approves_a_referred_case_and_four_eyes_refuses_a_self_confirmed_suspension(
    db_url: str, tmp_path: Path, page, shots: Path
) -> None:
    bootstrap(db_url, tmp_path)
    with live_server(db_url, tmp_path) as base:
        approved_pid = _referred_case(base, "013", "李桂兰", ENROL_B, GREY_B)
        suspended_pid = _referred_case(base, "025", "王德福", ENROL_A, SAME_A, static=True)

        page.goto(f"{base}/console/cases")
        assert page.url.endswith("/console/login")  # not signed in: sent to the login page
        page.fill("input[name=username]", "clerk")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-button")
        assert "只有复核员" in page.inner_text("#error")  # a clerk is not a reviewer
        page.screenshot(path=str(shots / "01-login-refused.png"))

        _login(page, base, "reviewer")
        rows = page.locator("#cases tr")
        assert rows.count() == 3  # header + the two referred cases
        assert "人脸比对不确定" in page.inner_text(
            "#cases"
        ) and "活体检测未通过" in page.inner_text("#cases")
        page.screenshot(path=str(shots / "02-queue.png"))

        page.click("#cases tr:has-text('李桂兰') a.open-case")
        assert (
            page.locator("#enrolled-photo").is_visible()
            and page.locator("#captured-photo").is_visible()
        )
        assert float(page.inner_text("#distance").split()[0][:5]) > 0.5
        assert (
            page.evaluate("document.getElementById('captured-photo').naturalWidth") > 0
        )  # the decrypted image really decodes
        assert page.locator("#terminate-fields").is_visible()  # plain HTML, no script needed
        assert page.locator("#terminate-reason option").all_inner_texts()[1:] == [
            "死亡",
            "领取城镇职工养老保险",
        ]
        page.screenshot(path=str(shots / "03-case.png"), full_page=True)

        page.click("#decision-approve")
        page.click("#submit-decision")  # no note: the browser's required field stops it
        assert "/decision" not in page.url and page.locator("#note:invalid").count() == 1
        page.fill("#note", "与登记照片为同一人，照片年代久远")
        page.click("#submit-decision")
        page.wait_for_url(f"{base}/console/cases?msg=decided")
        assert "决定已保存" in page.inner_text("#message")
        assert "李桂兰" not in page.inner_text("#cases")
        page.screenshot(path=str(shots / "04-approved.png"))
        status = httpx.get(
            f"{base}/api/v1/persons/{approved_pid}/certification", headers=_token(base, "clerk")
        ).json()
        assert status["status"] == "certified" and status["last_passed"]["channel"] == "review"

        page.click("#cases tr:has-text('王德福') a.open-case")
        page.click("#decision-suspend")
        page.fill("#note", "疑似他人代认证，暂停调查")
        page.click("#submit-decision")
        page.wait_for_url(f"{base}/console/cases?msg=decided_pending")
        assert "等待第二位复核员确认" in page.inner_text("#message")
        page.click("#cases tr:has-text('王德福') a.open-case")
        page.fill("#note", "我自己确认")
        page.click("#submit-decision")
        assert "须由另一位复核员确认" in page.inner_text("#error")
        page.screenshot(path=str(shots / "05-four-eyes-refused.png"), full_page=True)
        person = httpx.get(
            f"{base}/api/v1/persons/{suspended_pid}", headers=_token(base, "clerk")
        ).json()
        assert person["status"] != "suspended"

        page.click("#lang-toggle")
        assert "Face distance" in page.inner_text("body") and "Submit decision" in page.inner_text(
            "body"
        )
        page.screenshot(path=str(shots / "06-case-english.png"), full_page=True)
        with engine_for(
            db_url
        ).begin() as conn:  # make them pensioners (awards are another module's business)
            conn.execute(sa.text("UPDATE person SET status = 'receiving'"))
        page.goto(f"{base}/console/due")
        # names masked as on a village notice; approved: certified to 2027-11-30
        overdue = page.locator(f"#overdue tr[data-person='{suspended_pid}']")
        assert overdue.count() == 1 and "王**" in overdue.inner_text()
        assert "王德福" not in page.inner_text("body")
        assert page.locator(f"tr[data-person='{approved_pid}']").count() == 0
        page.screenshot(path=str(shots / "07-due-english.png"))
