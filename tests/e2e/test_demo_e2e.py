"""The demo end to end, as the README says: `nongbao demo` builds the demo county and serves
it; its kiosk (`nongbao kiosk --simulate --backend --token`, with the demo's environment from
backend.demo.kiosk_launch) talks to that backend. 王秀兰's card is inserted from the demo
strip, her simulated camera plays a real liveness sequence of her enrolled face (rendered by
biometrics.sequences; the backend measures it), she passes and gets a receipt.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from tests.live import ROOT, free_port

SHOTS = ROOT / "artifacts" / "screenshots" / "kiosk" / "demo"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("demo")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NONGBAO_DATABASE")}
    env["NONGBAO_DATA_DIR"] = str(data)
    log = (data / "demo.log").open("wb")
    command = [sys.executable, "-m", "nongbao", "demo", "--residents", "200"]
    command += ["--data-dir", str(data), "--port", str(port), "--no-kiosk"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (data / "demo.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo did not serve within 300 s"
            time.sleep(0.5)
        info = json.loads((data / "demo.json").read_text("utf-8"))
        yield {"base": base, "info": info, "data": data}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def visit(demo: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from backend.demo import DemoInfo, kiosk_launch

    info = DemoInfo(**demo["info"])
    assert info.face_enrolled, info.face_note
    _, env = kiosk_launch(demo["base"], info)  # the demo kiosk's own environment
    env["KIVY_HOME"] = str(tmp_path_factory.mktemp("kivy"))
    env["KIVY_NO_ARGS"] = "1"
    env.pop("DISPLAY", None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    command = ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable]
    command += ["-m", "tests.e2e.demo_driver", demo["base"], info.kiosk_token, str(SHOTS)]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400, check=False
    )
    report_file = SHOTS / "report.json"
    assert report_file.is_file(), done.stderr[-4000:]
    return {"report": json.loads(report_file.read_text("utf-8")), "stderr": done.stderr[-4000:]}


def test_wang_xiulan_passes_at_the_demo_kiosk_and_gets_a_receipt(
    demo: dict[str, Any], visit: dict[str, Any]
) -> None:
    report = visit["report"]
    assert report["error"] is None and report["completed"], (report, visit["stderr"])
    assert "王秀兰的卡" in report["strip"]
    screens = report["screens"]
    for screen in ("reading", "menu", "camera", "liveness", "submitting"):
        assert screen in screens, screens
    assert "certify" in report["menu"]
    # the backend holds her passed certification
    login = httpx.post(
        f"{demo['base']}/api/v1/auth/token",
        data={"username": "clerk", "password": "clerk-demo"},
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    person = demo["info"]["demo_person_id"]
    status = httpx.get(
        f"{demo['base']}/api/v1/persons/{person}/certification",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status.status_code == 200, status.text
    last = status.json()["last"]
    # her face matched her enrolled face through the kiosk's camera and the real backend, and
    # the backend measured her simulated camera's frames as a live person doing the actions
    assert last["channel"] == "kiosk" and last["distance"] < 0.5, last
    assert (last["outcome"], last["reasons"]) == ("passed", []), last
    assert last["liveness"] == {"passed": True, "reasons": []}, last
    assert "take_card" in screens and "认证成功" in report["final"]["detail"], report
    assert report.get("result") is None, report  # never a "submitted for review" screen
    # the receipt the printer got is hers: passed, her certification's own receipt and code
    printed = sorted((SHOTS / "receipts").glob("receipt-*.txt"))
    assert [p.name for p in printed] == ["receipt-0001.txt"], report["receipts"]
    lines = printed[0].read_text("utf-8").splitlines()
    assert lines[0] == "城乡居民养老保险 生存认证凭条"
    assert "结果：认证成功" in lines and "姓名：王**" in lines, lines
    assert f"有效期至：{status.json()['valid_until']}" in lines, lines
    receipt = last["receipt"]
    assert f"凭条号：{receipt['receipt_id']}" in lines, lines
    assert lines[-1].endswith(quote(receipt["code"], safe="")), lines  # the QR code's text
    verified = httpx.get(f"{demo['base']}/api/v1/receipts/verify", params={"code": receipt["code"]})
    assert verified.status_code == 200 and verified.json()["genuine"] is True, verified.text


def test_a_still_photo_of_her_is_refused_at_the_demo_kiosk(
    demo: dict[str, Any], visit: dict[str, Any]
) -> None:
    """The attack the server's checks are for, on the same demo backend, with the demo
    kiosk's own registered key: her enrolled photo held up to the camera (every frame the
    same picture with a camera's noise, stamped 6 a second) never passes."""
    import numpy as np

    from backend.demo import DEMO_RESIDENT, DemoInfo, demo_face_png
    from biometrics.sequences import camera_frame, jpeg
    from client import clock
    from client.capture import DeviceKey
    from kiosk_app.backend import HttpKioskBackend
    from kiosk_app.models import CardInfo, CardKind, LivenessEvidence

    info = DemoInfo(**demo["info"])
    key = DeviceKey.load_or_create(Path(info.data_dir) / "kiosk")
    kiosk = HttpKioskBackend(demo["base"], info.kiosk_token, timeout_s=120, capture_key=key)
    with Image.open(io.BytesIO(demo_face_png())) as image:
        still = camera_frame(np.asarray(image.convert("RGB")), size=(480, 360))
    card = CardInfo(CardKind.SOCIAL_SECURITY, info.demo_id_number, DEMO_RESIDENT, "DEMO-SSC")
    resident = kiosk.open_session(card, jpeg(still))
    challenge = kiosk.get_challenge(resident)
    rng = np.random.default_rng(7)
    start = clock.timestamp()
    frames: list[bytes] = []
    items: list[dict[str, object]] = []
    for i in range(30):  # 5 s at 6 a second: enough for any challenge's actions
        grain = rng.integers(-2, 3, still.shape, dtype=np.int16)
        frames.append(jpeg(np.clip(still.astype(np.int16) + grain, 0, 255).astype(np.uint8)))
        items.append({"t": round(start + i / 6, 3), "sample": i, "face": True})
    evidence = LivenessEvidence(
        challenge_id=challenge.challenge_id,
        nonce=challenge.nonce,
        actions_done=challenge.actions,
        timings_s=(1.0,) * len(challenge.actions),
        measurements=tuple(items),
    )
    # the frames' stamps are in the future until 5 s have passed: wait as a camera would
    time.sleep(max(0.0, start + 5.2 - clock.timestamp()))
    result = kiosk.submit_certification(resident, [jpeg(still)], frames, evidence, "still-1")
    assert result.outcome != "passed", result
    login = httpx.post(
        f"{demo['base']}/api/v1/auth/token",
        data={"username": "clerk", "password": "clerk-demo"},
    )
    token = login.json()["access_token"]
    status = httpx.get(
        f"{demo['base']}/api/v1/persons/{info.demo_person_id}/certification",
        headers={"Authorization": f"Bearer {token}"},
    )
    last = status.json()["last"]
    assert last["outcome"] != "passed" and last["liveness"]["passed"] is False, last
    assert "static_image" in last["liveness"]["reasons"], last
