"""The real field app (Kivy, under Xvfb) against a live backend, through a proxy the test
switches off and on: the worker downloads the list, visits three pensioners offline (one
passes, one is a different face, one is not at home), the backend becomes reachable, the
app sends, the decisions come back; the pass is certified and the mismatch is with staff.

Screenshots: artifacts/screenshots/field/{phone,tablet}/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    ENROL_B,
    LFW,
    OTHER,
    SAME_A,
    enrol_files,
)
from tests.backend.conftest import PASSWORD, bootstrap
from tests.field.test_fault import proxied, register_phone, staff
from tests.live import ROOT, live_server

SHOTS = ROOT / "artifacts" / "screenshots" / "field"


def lfw(name: str) -> str:
    return str(LFW / name.rsplit("_", 1)[0] / f"{name}.jpg")


def pensioner(clerk: httpx.Client, seq: str, name: str, homebound: bool) -> str:
    from tests.backend.conftest import valid_id

    r = clerk.post(
        "/api/v1/persons",
        json={
            "id_number": valid_id("110105", "19480305", seq),
            "name": name,
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
            "homebound": homebound,
            "phone": "13912345678",
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["person_id"]
    assert clerk.post(
        f"/api/v1/persons/{pid}/award", json={"awarded_on": "2025-06-01"}
    ).status_code in (200, 201)
    return pid


def enrol(clerk: httpx.Client, pid: str, name: str) -> None:
    r = clerk.post(
        f"/api/v1/persons/{pid}/face",
        files=enrol_files(name, COMPANION[name]),
    )
    assert r.status_code == 201, r.text


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("size", ["phone", "tablet"])
def test_offline_visits_sync_and_decisions_come_back(
    pg_url: str, tmp_path: Path, size: str
) -> None:
    bootstrap(pg_url, tmp_path)
    out = SHOTS / size
    hand = tmp_path / "handshake"
    hand.mkdir()
    with live_server(pg_url, tmp_path) as base, proxied(base) as proxy:
        clerk = staff(base, "clerk")
        same, other, away = (
            pensioner(clerk, "011", "王秀英", True),
            pensioner(clerk, "021", "李桂兰", True),
            pensioner(clerk, "031", "张德福", False),
        )
        enrol(clerk, same, ENROL_A)
        enrol(clerk, other, ENROL_B)
        register_phone(base, tmp_path / "phone")  # the phone's own key, as a field device

        env = {**os.environ, "KIVY_HOME": str(tmp_path / "kivy"), "KIVY_NO_ARGS": "1"}
        env.pop("DISPLAY", None)
        cmd = [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1400x1400x24",
            sys.executable,
            "-m",
            "field_app.tour",
            "--backend",
            f"http://127.0.0.1:{proxy.port}",
            "--data",
            str(tmp_path / "phone"),
            "--out",
            str(out),
            "--handshake",
            str(hand),
            "--password",
            PASSWORD,
            "--visit",
            f"{same}={lfw(SAME_A)}",
            "--visit",
            f"{other}={lfw(OTHER)}",
            "--not-home",
            away,
        ] + (["--tablet"] if size == "tablet" else [])
        tour = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 400
        while tour.poll() is None and time.monotonic() < deadline:
            if (hand / "offline.request").exists() and not (hand / "offline.ok").exists():
                proxy.policy = lambda n: (
                    0,
                    0,
                )  # no signal in the village: every connection dies at once
                (hand / "offline.ok").touch()
            if (hand / "online.request").exists() and not (hand / "online.ok").exists():
                proxy.policy = lambda n: (None, None)
                (hand / "online.ok").touch()
            time.sleep(0.1)
        stdout, stderr = tour.communicate(timeout=30)
        assert tour.returncode == 0, stderr[-3000:]
        offline_attempts = proxy.cuts

        outbox = json.loads(stdout.strip().splitlines()[-1])["outbox"]
        by_kind = [(e["kind"], e["state"], (e["result"] or {}).get("outcome")) for e in outbox]
        assert by_kind == [
            ("certification", "done", "passed"),
            ("certification", "done", "failed"),
            ("not_at_home", "done", "not_at_home"),
        ], outbox
        assert outbox[0]["result"]["valid_until"] == "2027-11-30" and outbox[0]["result"][
            "receipt"
        ]["code"].startswith("NB1.")
        assert offline_attempts >= 1  # the app did try while offline, and nothing was lost

        status = clerk.get(f"/api/v1/persons/{same}/certification").json()
        assert status["status"] == "certified" and status["last"]["channel"] == "field"
        reviewer = staff(base, "reviewer")
        cases = [
            c
            for c in reviewer.get("/api/v1/review/cases", params={"status": "open"}).json()
            if c["person_id"] == other
        ]
        assert (
            len(cases) == 1
            and cases[0]["reasons"][0] == "field_face_failed"
            and "no_match" in cases[0]["reasons"]
        )
        assert clerk.get(f"/api/v1/persons/{other}/certification").json()["status"] != "certified"

    shots = sorted(p.name for p in out.glob("*.png"))
    assert [s.split("_", 1)[1] for s in shots] == [
        "sign_in.png",
        "list.png",
        "person.png",
        "face_liveness.png",
        "prelim_0.png",
        "documents.png",
        "attest.png",
        "saved_0.png",
        "prelim_1.png",
        "attest_mismatch.png",
        "saved_1.png",
        "not_home.png",
        "outbox_offline.png",
        "outbox_synced.png",
        "outbox_synced_en.png",
        "list_after_en.png",
    ]
    _no_english_and_no_tofu(out / "labels.json")
    from PIL import Image

    for name in shots:
        with Image.open(out / name) as im:
            assert im.size == ((720, 1280) if size == "phone" else (1280, 800))
            assert (
                len(set(im.convert("L").resize((64, 64)).get_flattened_data())) > 8
            )  # something is drawn


# what may stay Latin on a Chinese screen: the language switch and the PIN's name
LATIN_ALLOWED = {"English", "PIN"}
MARKUP = re.compile(r"\[/?[a-z]+(=[^\]]*)?\]")


def _no_english_and_no_tofu(labels_file: Path) -> None:
    """Every label the app drew, read back from the widgets: in Chinese on the Chinese
    screens (no "(kiosk)", no "distance 0.39"), and in the CJK font, inputs included."""
    from field_app import theme

    labels = json.loads(labels_file.read_text(encoding="utf-8"))
    assert "list" in labels and "prelim_1" in labels
    for shot, words in labels.items():
        for w in words:
            assert w["font"] == theme.FONT_NAME, (shot, w)  # Roboto draws Chinese as boxes
            if shot.endswith("_en") or w["kind"] == "input" or w["id"] == "lang":
                continue
            latin = set(re.findall(r"[A-Za-z]{3,}", MARKUP.sub("", w["text"]))) - LATIN_ALLOWED
            assert not latin, (shot, w["text"])
    shown = " ".join(w["text"] for w in labels["list"])
    assert "在线" in shown or "离线" in shown
    assert "待遇核定时认证" in shown and "(award)" not in shown
    assert any(w["kind"] == "hint" and "姓名" in w["text"] for w in labels["list"])
    prelim = " ".join(w["text"] for w in labels["prelim_1"])
    assert "相貌" in prelim and "distance" not in prelim
    synced = " ".join(w["text"] for w in labels["outbox_synced"])
    assert "已全部发送" in synced and "在线" in synced and "离线" not in synced
    warned = " ".join(w["text"] for w in labels["attest_mismatch"])
    assert "不是本人" in warned and "已核对身份证" in warned  # a second tick before saving
