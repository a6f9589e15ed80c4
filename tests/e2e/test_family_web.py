"""亲情认证 in real Chromium at a phone's size, with Chromium's fake camera playing a y4m
made from ../shared/faces: a family member signs in with the SMS code that the gateway
simulator (a real process) received, picks the parent, reads the challenge's actions, and
the "parent" does them in front of the camera. The server measures liveness on the frames
the page filmed and signed with its non-extractable WebCrypto key.

The y4m is written after the page has shown the challenge and before it opens the camera
(Chromium's file camera opens its file when a capture starts): that is the person reading
the instructions and then doing them. A still photo held up to the camera must not pass.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import ViewportSize

from biometrics.image import load_image
from biometrics.sequences import camera_frame, genuine_sequence
from tests.backend.cert_helpers import COMPANION, ENROL_A, ENROL_B, SAME_A, enrol_files, photo
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.e2e.conftest import CHROMIUM
from tests.live import ROOT, live_server, server_env
from tests.sms_sim import SIM_KEY, start_sms_sim

SCREENSHOTS = ROOT / "artifacts" / "screenshots" / "family"
PHONE = "13912345678"
PUBLIC_URL = "https://nongbao.example"
FPS = 12
SIZE = (640, 480)
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 844}


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = FPS) -> None:
    """RGB frames as a YUV 4:2:0 y4m, Chromium's fake-camera format."""
    height, width = frames[0].shape[:2]
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    tmp.replace(path)


def genuine_y4m(path: Path, picture: bytes, actions: Sequence[str], seconds: float) -> None:
    """The face doing `actions`, then still and neutral until `seconds` have played."""
    camera = camera_frame(load_image(picture), size=SIZE)
    frames = [f for _, f in genuine_sequence(camera, actions, start=0.0, fps=FPS)]
    neutral = frames[:4]
    while len(frames) < seconds * FPS:
        frames.append(neutral[len(frames) % len(neutral)])
    write_y4m(path, frames)


def still_y4m(path: Path, picture: bytes, seconds: float) -> None:
    camera = camera_frame(load_image(picture), size=SIZE)
    write_y4m(path, [camera] * int(seconds * FPS))


def staff(base: str, user: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def pensioner(base: str, clerk: dict[str, str], seq: str, name: str, face: str) -> str:
    r = httpx.post(
        f"{base}/api/v1/persons",
        headers=clerk,
        json={
            "id_number": valid_id("110105", "19480101", seq),
            "name": name,
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        },
    )
    assert r.status_code == 201, r.text
    pid = str(r.json()["person_id"])
    r = httpx.post(
        f"{base}/api/v1/persons/{pid}/face",
        headers=clerk,
        files=enrol_files(face, COMPANION[face]),
        timeout=60,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base}/api/v1/persons/{pid}/family-contacts",
        headers=clerk,
        json={"name": "王小明", "relation": "child", "phone": PHONE},
    )
    assert r.status_code == 201, r.text
    return pid


def sign_in(page: Any, sim_messages: Any) -> None:
    page.fill("#phone", PHONE)
    page.click("#send-code")
    page.wait_for_selector("#code-box:not([hidden])")
    texts = [m["text"] for m in sim_messages() if m["to"] == PHONE]
    code = texts[-1].split("验证码：")[1][:6]
    page.fill("#code", code)
    page.click("#sign-in")
    page.wait_for_selector("#people:not([hidden])")


def certify(page: Any, person_id: str, camera: Path, film: Any, shot: str) -> dict[str, str]:
    """Pick the person, let `film(actions)` write what the camera will see, start."""
    page.click(f"button[data-person='{person_id}']")
    page.wait_for_selector("#prepare:not([hidden])")
    actions = page.get_attribute("#action-list", "data-actions").split(",")
    page.screenshot(path=str(SCREENSHOTS / f"{shot}-prepare.png"))
    film(actions)
    page.click("#start")
    page.wait_for_selector("#capture:not([hidden])")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}-capture.png"))
    page.wait_for_selector("#result:not([hidden])", timeout=180_000)
    page.screenshot(path=str(SCREENSHOTS / f"{shot}-result.png"), full_page=True)
    return {
        "outcome": page.get_attribute("#result", "data-outcome") or "",
        "title": page.inner_text("#result-title"),
        "text": page.inner_text("#result-text"),
    }


def decode_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "the QR screenshot is not a picture"
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


@pytest.mark.timeout(1200)  # two liveness captures filmed in real time, and their decisions
def test_a_family_member_certifies_a_parent_from_a_phone(pg_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bootstrap(pg_url, tmp_path)
    camera = tmp_path / "camera.y4m"
    still_y4m(camera, photo(SAME_A), 1)  # the file must exist when Chromium starts
    with start_sms_sim(tmp_path) as sim:
        env = {
            "NONGBAO_SMS_URL": sim.url,
            "NONGBAO_SMS_KEY": SIM_KEY,
            "NONGBAO_PUBLIC_URL": PUBLIC_URL,
        }
        with live_server(pg_url, tmp_path, env=env) as base:
            clerk = staff(base, "clerk")
            mother = pensioner(base, clerk, "021", "王秀兰", ENROL_A)
            father = pensioner(base, clerk, "031", "李建国", ENROL_B)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        "--headless",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--use-fake-device-for-media-stream",
                        "--use-fake-ui-for-media-stream",
                        f"--use-file-for-fake-video-capture={camera}",
                    ],
                )
                context = browser.new_context(
                    viewport=PHONE_VIEWPORT,
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                    locale="zh-CN",
                    permissions=["camera", "geolocation"],
                    geolocation={"latitude": 34.26, "longitude": 108.94, "accuracy": 30},
                )
                page = context.new_page()
                page.goto(f"{base}/m/")
                page.screenshot(path=str(SCREENSHOTS / "1-sign-in.png"))
                sign_in(page, sim.messages)
                page.screenshot(path=str(SCREENSHOTS / "2-people.png"))
                assert "王**" in page.inner_text("#people-list")

                # a still photo held up to the camera does not pass
                held = certify(
                    page,
                    father,
                    camera,
                    lambda _a: still_y4m(camera, photo(ENROL_B), 12),
                    "3-still",
                )
                assert held["outcome"] == "failed", held
                assert "没有看到老人本人做动作" in held["text"], held
                page.click("#done")
                page.wait_for_selector("#people:not([hidden])")

                # the parent herself, doing what the page asks
                seconds = 1.0 + 2.5 * 3 + 3
                done = certify(
                    page,
                    mother,
                    camera,
                    lambda actions: genuine_y4m(camera, photo(SAME_A), actions, seconds),
                    "4-genuine",
                )
                assert done["outcome"] == "passed", done
                assert "有效期到" in done["text"], done
                page.wait_for_selector("#receipt-qr:not([hidden])")
                page.wait_for_function("document.getElementById('receipt-qr').naturalWidth > 0")
                url = decode_qr(page.locator("#receipt-qr").screenshot())
                assert url.startswith(f"{PUBLIC_URL}/r/"), url
                verified = httpx.get(
                    f"{base}/api/v1/receipts/verify", params={"code": url.split("/r/", 1)[1]}
                ).json()
                assert verified["genuine"] is True, verified
                page.click("#done")
                page.wait_for_selector("#people:not([hidden])")
                listed = page.inner_text("#people-list")
                page.screenshot(path=str(SCREENSHOTS / "5-next-time-in-person.png"))
                assert "这次请老人到村里的自助机认证" in listed, listed
                context.close()
                browser.close()

            # the SMS that confirms it, sent by the notices sender to the family phone
            sent = subprocess.run(
                [sys.executable, "-m", "nongbao", "notices", "send"],
                env=server_env(pg_url, tmp_path, **env),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert sent.returncode == 0, sent.stderr
            confirmations = [
                m["text"] for m in sim.messages() if m["to"] == PHONE and "亲情认证）" in m["text"]
            ]
            assert len(confirmations) == 1 and "王**" in confirmations[0], confirmations

            # the server kept where the phone was, and the channel
            admin = staff(base, "admin")
            status = httpx.get(f"{base}/api/v1/persons/{mother}/certification", headers=admin)
            assert status.json()["last"]["channel"] == "family", status.text


@pytest.mark.parametrize("path", ["/m/", "/m/app.js", "/m/m.css"])
def test_the_page_is_served_with_a_strict_policy(
    path: str, sqlite_url: str, tmp_path: Path
) -> None:
    bootstrap(sqlite_url, tmp_path)
    with live_server(sqlite_url, tmp_path) as base:
        r = httpx.get(f"{base}{path}")
    assert r.status_code == 200
    policy = r.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert r.headers["x-content-type-options"] == "nosniff"
