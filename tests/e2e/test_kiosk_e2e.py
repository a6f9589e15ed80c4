"""The kiosk end to end: the REAL Kivy app under Xvfb against a live backend.

A backend server (uvicorn subprocess, temporary SQLite) gets, through its staff API, three
residents per orientation: a pensioner enrolled with a real face photo and awarded a
pension, a contributor with a real face photo and two years of contributions, and a kiosk
device token. Then the kiosk app (tests/e2e/kiosk_driver.py, run with xvfb-run in landscape
1920x1080 and portrait 1080x1920) talks to it with its HTTP client, reads hardware's
simulated social security card (the resident's ID number and name on the card's records),
sees real photos from ../shared/faces through a simulated camera which, once the liveness
check starts, plays a SYNTHESIZED sequence of the photo's face doing the challenge's actions
(rendered in 3-D by biometrics.sequences; the backend measures liveness and identity on
those frames itself), and prints on hardware's simulated printer (ESC/POS job + PNG preview).

1. the pensioner certifies: the receipt's QR code, decoded with OpenCV from the printed
   PNG, is genuine by GET /receipts/verify, and the backend holds a passed certification;
2. the contributor checks the balance: the screen shows the yuan amount their
   contributions add up to (and the staff view of the account agrees);
3. someone else's face with the contributor's card is refused (not recognised) and sees
   no personal data.

Every screen is captured to artifacts/screenshots/kiosk/e2e/<orientation>/ and its layout
checked (text inside its box, nothing off screen, targets large enough, no overlap).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from client.capture import DeviceKey
from kiosk_app.models import format_yuan
from tests.backend.cert_helpers import COMPANION, LFW, enrol_files
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.live import ROOT, live_server

SHOTS = ROOT / "artifacts" / "screenshots" / "kiosk" / "e2e"
SIZES = {"landscape": (1920, 1080), "portrait": (1080, 1920)}
API = "/api/v1"

PAID = ((2024, 50_000, "2024-03-15"), (2025, 80_000, "2025-04-20"))  # year, personal fen, paid on
# Per orientation: A (pensioner) and B (contributor) as (birth, sequence, name, enrolment
# photo, photos the camera replays), and the impostor's photo shown with B's card. Every
# face is a different person: the backend holds back a face already enrolled under
# another ID number (its 1:N duplicate search). Each is enrolled with two photos (the named
# one and its companion, cert_helpers.COMPANION). Face distances with this engine: camera
# photos 0.23-0.38 from the enrolment mean (pass <= 0.50), impostors > 0.75.
PEOPLE: dict[str, dict[str, Any]] = {
    "landscape": {
        "a": ("19500101", "011", "王秀英", "Donald_Rumsfeld_0001", ("Donald_Rumsfeld_0003",)),
        "b": (
            "19700501",
            "023",
            "张建国",
            "George_W_Bush_0002",
            ("George_W_Bush_0003", "George_W_Bush_0005"),
        ),
        "impostor": ("Colin_Powell_0002",),
    },
    "portrait": {
        "a": (
            "19491001",
            "031",
            "李桂兰",
            "Ariel_Sharon_0001",
            ("Ariel_Sharon_0003", "Ariel_Sharon_0005"),
        ),
        "b": (
            "19720301",
            "045",
            "刘建华",
            "Colin_Powell_0002",
            ("Colin_Powell_0001", "Colin_Powell_0007"),
        ),
        "impostor": ("Arnold_Schwarzenegger_0003",),
    },
}


def lfw(name: str) -> Path:
    return LFW / name.rsplit("_", 1)[0] / f"{name}.jpg"


class Staff:
    """The county staff's API client on the live server."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=60)
        self.headers: dict[str, dict[str, str]] = {}

    def auth(self, role: str) -> dict[str, str]:
        if role not in self.headers:
            r = self.http.post(f"{API}/auth/token", data={"username": role, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self.headers[role]

    def post(self, path: str, role: str, **kw: Any) -> httpx.Response:
        return self.http.post(f"{API}{path}", headers=self.auth(role), **kw)

    def get(self, path: str, role: str, **kw: Any) -> httpx.Response:
        return self.http.get(f"{API}{path}", headers=self.auth(role), **kw)

    def person(self, birth: str, seq: str, name: str, face: str) -> dict[str, str]:
        id_number = valid_id("110105", birth, seq)
        body = {
            "id_number": id_number,
            "name": name,
            "village_code": "V001",
            "enrolled_on": "2010-08-01",
        }
        r = self.post("/persons", "clerk", json=body)
        assert r.status_code == 201, r.text
        pid = r.json()["person_id"]
        files = enrol_files(face, COMPANION[face])  # two photos: the policy's minimum
        r = self.post(f"/persons/{pid}/face", "clerk", files=files)
        assert r.status_code == 201 and r.json()["accepted"] is True, r.text
        return {"person_id": pid, "id_number": id_number, "name": name}


@pytest.fixture(scope="module")
def backend(
    _sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A live backend with, per orientation, pensioner A, contributor B and a kiosk token."""
    tmp = tmp_path_factory.mktemp("kiosk-e2e")
    db = tmp / "nongbao.sqlite3"
    shutil.copy(_sqlite_template, db)
    db_url = f"sqlite:///{db}"
    bootstrap(db_url, tmp)
    with live_server(db_url, tmp) as base:
        staff = Staff(base)
        world: dict[str, Any] = {"base": base, "staff": staff, "tmp": tmp}
        for orientation, people in PEOPLE.items():
            a = staff.person(*people["a"][:4])
            r = staff.post(
                f"/persons/{a['person_id']}/award", "clerk", json={"awarded_on": "2026-11-01"}
            )
            assert r.status_code == 201, r.text
            b = staff.person(*people["b"][:4])
            paid = []
            for year, fen, on in PAID:
                body = {
                    "person_id": b["person_id"],
                    "year": year,
                    "personal_fen": fen,
                    "paid_on": on,
                    "kind": "normal",
                }
                r = staff.post("/contributions", "clerk", json=body)
                assert r.status_code == 201, r.text
                paid.append(r.json())
            r = staff.post(
                "/devices",
                "admin",
                json={
                    "name": f"kiosk-{orientation}",
                    "kind": "kiosk",
                    "location": "城关镇便民服务中心",
                    # the kiosk made its key in its data folder; the admin registers the public key
                    "public_key": DeviceKey.load_or_create(tmp / f"kiosk-{orientation}").public_b64,
                },
            )
            assert r.status_code == 201, r.text
            world[orientation] = {
                "a": a,
                "b": b,
                "paid": paid,
                "token": r.json()["token"],
                "data_dir": str(tmp / f"kiosk-{orientation}"),
            }
        yield world
        staff.http.close()


def steps_certify() -> list[list[Any]]:
    return [
        ["attract", None, "attract", "insert"],
        ["reading", "read_card", "reading_card", "release"],
        ["identify", "assess", "identify", "release"],
        ["reading", "open_session", "identify_checking", "release"],
        ["menu", None, "menu_pensioner", "tap:certify"],
        ["loading", "get_challenge", "challenge_loading", "release"],
        ["camera", "assess", "camera", "release"],
        ["liveness", "watch", "liveness", "release"],
        ["submitting", "submit", "submitting", "release"],
        ["printing", "print", "passed_printing", "release"],
        ["take_card", None, "take_card", "remove"],
    ]


def steps_balance() -> list[list[Any]]:
    return [
        ["attract", None, None, "insert"],
        ["reading", "read_card", None, "release"],
        ["identify", "assess", None, "release"],
        ["reading", "open_session", None, "release"],
        ["menu", None, "menu_contributor", "tap:balance"],
        ["loading", "get_account", "balance_loading", "release"],
        ["balance", None, "balance", "tap:back"],
        ["menu", None, None, "tap:back"],
        ["take_card", None, None, "remove"],
    ]


def steps_wrong_face() -> list[list[Any]]:
    return [
        ["attract", None, None, "insert"],
        ["reading", "read_card", None, "release"],
        ["identify", "assess", "identify_wrong_face", "release"],
        ["reading", "open_session", None, "release"],
        ["error", None, "not_recognised", "tap:back"],
        ["take_card", None, "take_card_after_refusal", "remove"],
        ["attract", None, None, "none"],
    ]


@pytest.fixture(scope="module", params=["landscape", "portrait"])
def run(
    request: pytest.FixtureRequest,
    backend: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The kiosk app under xvfb-run, walked through the three visits."""
    orientation = request.param
    world = backend[orientation]
    people = PEOPLE[orientation]
    tmp = tmp_path_factory.mktemp(f"kiosk-{orientation}")
    out = SHOTS / orientation
    receipts = tmp / "receipts"

    def card(person: dict[str, str], number: str) -> dict[str, str]:
        return {"id_number": person["id_number"], "name": person["name"], "card_number": number}

    plan = {
        "backend": backend["base"],
        "token": world["token"],
        "data_dir": world["data_dir"],
        "orientation": orientation,
        "out": str(out),
        "receipts": str(receipts),
        "limit_s": 60,
        "visits": [
            {
                "card": card(world["a"], "A10000001"),
                "photos": [str(lfw(p)) for p in people["a"][4]],
                "steps": steps_certify(),
            },
            {
                "card": card(world["b"], "B10000002"),
                "photos": [str(lfw(p)) for p in people["b"][4]],
                "steps": steps_balance(),
            },
            {
                "card": card(world["b"], "B10000002"),
                "photos": [str(lfw(p)) for p in people["impostor"]],
                "steps": steps_wrong_face(),
            },
        ],
    }
    report_file = out / "report.json"
    report_file.unlink(missing_ok=True)  # never read a report of an earlier run
    plan_file = tmp / "plan.json"
    plan_file.write_text(json.dumps(plan, ensure_ascii=False), "utf-8")
    env = dict(os.environ)
    env["KIVY_HOME"] = str(tmp / "kivy")
    env["KIVY_NO_ARGS"] = "1"
    env["KIVY_NO_CONSOLELOG"] = "1"
    env.pop("DISPLAY", None)
    cmd = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1920x1920x24",
        sys.executable,
        "-m",
        "tests.e2e.kiosk_driver",
        str(plan_file),
    ]
    # its own process group: on the failure guard's timeout, Xvfb and the app go too
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _stdout, stderr = proc.communicate()
        stderr += "\nthe kiosk run did not end within 240 s"
    printed = receipts / "receipt-0001.png"
    if printed.is_file():  # beside the screenshots, to look at (the tests read the original)
        shutil.copy(printed, out / "printed_receipt.png")
    report = json.loads(report_file.read_text("utf-8")) if report_file.is_file() else None
    return {
        "orientation": orientation,
        "world": world,
        "staff": backend["staff"],
        "returncode": proc.returncode,
        "stderr": stderr[-5000:],
        "report": report,
        "out": out,
        "receipts": receipts,
    }


def decode_qr(path: Path) -> str:
    """The QR code on a receipt preview (2 dots a module at 203 dpi): binarised, scaled up
    by whole factors and given a quiet zone, tried with both of OpenCV's detectors."""
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert gray is not None, path
    _, bw = cv2.threshold(gray, 128, 255, cv2.THRESH_BINARY)
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        for factor in (4, 2, 5, 3, 6):
            big = cv2.resize(bw, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
            big = cv2.copyMakeBorder(big, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
            code, _points, _ = detector.detectAndDecode(big)
            if code:
                return str(code)
    return ""


def shot(run: dict[str, Any], name: str) -> dict[str, Any]:
    found = [s for s in run["report"]["shots"] if s["shot"] == name]
    assert len(found) == 1, (
        f"no single shot {name!r} in {[s['shot'] for s in run['report']['shots']]}"
    )
    return found[0]


def calls_of(run: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in run["report"]["calls"] if c["call"] == name]


def test_the_kiosk_walks_every_visit_with_no_layout_problem(run: dict[str, Any]) -> None:
    report = run["report"]
    assert run["returncode"] == 0 and report is not None, run["stderr"]
    assert report["completed"] is True and report["error"] is None, report["error"]
    assert report["final_screen"] == "attract"
    assert not [g for g in report["gates"] if g.endswith(":timeout")]
    size = list(SIZES[run["orientation"]])
    assert report["window"] == size
    problems = {s["file"]: s["issues"] for s in report["shots"] if s["issues"]}
    assert problems == {}
    files = sorted(run["out"].glob("[0-9]*.png"))
    assert [p.name for p in files] == [s["file"] for s in report["shots"]]
    for path in files:
        with Image.open(path) as image:
            assert image.size == tuple(size), path.name
            assert np.asarray(image.convert("L"), dtype=np.float32).std() > 10, (
                f"{path.name} looks blank"
            )


@pytest.mark.parametrize("actions", [("blink", "turn_left"), ("turn_right", "open_mouth")])
def test_the_watcher_follows_the_playback_not_the_clock(actions: tuple[str, ...]) -> None:
    """Each action counts once the camera has shown its part of the playback (back to
    facing the camera), paced by the reads however long the reader pauses; the frames the
    kiosk keeps (every other read, 1/6 s apart) are the whole sequence, and they pass the
    server's liveness check."""
    from biometrics.liveness import Challenge, verify_frames
    from biometrics.sequences import action_poses, timeline
    from kiosk_app.devices import ChallengeCamera
    from kiosk_app.face import PlaybackActionWatcher
    from tests.e2e.kiosk_devices import load_photos

    camera = ChallengeCamera(fps=12.0, render_fps=6.0)
    camera.show(load_photos([lfw("Donald_Rumsfeld_0003")]))
    watcher = PlaybackActionWatcher(camera)
    watcher.begin(actions, 1000.0)
    total = 2 * len(timeline(actions, 6.0))  # each frame read twice
    ends = 2 * (np.cumsum([len(action_poses(a, 6.0)) for a in actions]) + len(timeline((), 6.0)))
    frames, counts, stamps = [], [], []
    for _ in range(total):
        frame = camera.read()
        assert frame is not None
        frames.append(frame)
        stamps.append(camera.captured_at())
        counts.append(watcher.feed(frame, 0.0)[0])  # the wall time plays no part
    # each frame stamped when a camera filming at 6 a second captured it, read twice
    assert stamps == [1000.0 + (n // 2) / 6 for n in range(total)]
    expected = [sum(1 for end in ends if n >= end) for n in range(1, total + 1)]
    assert counts == expected and counts[-1] == len(actions) and counts[-2] < len(actions)
    kept = frames[1::2]
    assert all(a is not b for a, b in itertools.pairwise(kept))  # none twice
    extra = [camera.read() for _ in range(4)]  # read on after the end: neutral frames
    assert all(x is not None for x in extra) and extra[1] is not extra[3]
    stamped = [(1000.0 + i / 6, f) for i, f in enumerate(kept)]
    challenge = Challenge("c", "p", actions, 999.0, 1300.0)  # type: ignore[arg-type]
    verdict = verify_frames(challenge, stamped, 1000.0 + len(kept) / 6)
    assert verdict.result.passed, verdict


def test_synthesized_liveness_certifies_and_the_receipt_qr_verifies(run: dict[str, Any]) -> None:
    """Scenario 1: pensioner A, a synthesized liveness sequence, printed receipt."""
    world, staff = run["world"], run["staff"]
    assert run["report"] is not None, run["stderr"]
    assert "认证成功" in "".join(shot(run, "passed_printing")["texts"])
    name = world["a"]["name"]
    greeting = "".join(shot(run, "menu_pensioner")["texts"])
    assert f"{name[0]}**" in greeting  # greeted by the masked name (family name only)
    submitted = calls_of(run, "submit_certification")
    assert len(submitted) == 1 and "outcome='passed'" in submitted[0].get("ok", ""), submitted
    # the printed receipt: a PNG preview and the ESC/POS job of hardware's simulated printer
    pngs = sorted(run["receipts"].glob("receipt-*.png"))
    assert [p.name for p in pngs] == ["receipt-0001.png"]
    code = decode_qr(pngs[0])
    assert code, "no QR code found on the printed receipt"
    job = (run["receipts"] / "receipt-0001.bin").read_bytes()
    assert code.encode() in job  # the printer was sent the same code
    verified = staff.http.get(f"{API}/receipts/verify", params={"code": code})
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["genuine"] is True, body
    assert body["what"] == "certification"
    tampered = staff.http.get(
        f"{API}/receipts/verify", params={"code": code[:-2] + ("AA" if code[-2:] != "AA" else "BB")}
    )
    assert tampered.json()["genuine"] is False
    status = staff.get(f"/persons/{world['a']['person_id']}/certification", "clerk")
    assert status.status_code == 200, status.text
    cert = status.json()
    assert cert["status"] == "certified", cert
    passed = cert["last_passed"]
    assert (passed["channel"], passed["outcome"], passed["reasons"]) == ("kiosk", "passed", [])
    assert passed["liveness"] == {"passed": True, "reasons": []}  # the synthesized sequence
    assert passed["receipt"]["code"] == code  # the printed code is this certification's
    year, month, day = (int(v) for v in passed["valid_until"].split("-"))
    assert year == 2027  # valid into next year
    on_screen = " ".join(shot(run, "passed_printing")["texts"])
    assert f"{year}年{month}月{day}日" in on_screen, on_screen  # the screen says until when


def test_the_balance_screen_shows_the_contributions_in_yuan(run: dict[str, Any]) -> None:
    """Scenario 2: contributor B reads the balance."""
    world, staff = run["world"], run["staff"]
    assert run["report"] is not None, run["stderr"]
    expected = sum(
        p["personal_fen"] + p["government_fen"] + p["collective_fen"] + p["other_fen"]
        for p in world["paid"]
    )
    assert expected > sum(fen for _, fen, _ in PAID)  # the government subsidy is in it
    account = staff.get(f"/persons/{world['b']['person_id']}/account", "clerk").json()
    assert account["balance_fen"] == expected
    on_screen = " ".join(shot(run, "balance")["texts"])
    assert format_yuan(expected) in on_screen, on_screen
    assert "元" in on_screen
    loaded = calls_of(run, "get_account")
    assert len(loaded) == 1 and f"balance_fen={expected}" in loaded[0]["ok"], loaded


def kiosk_jpeg(path: Path) -> bytes:
    """The photo as the kiosk sends it: decoded to RGB by the camera, encoded again."""
    from kiosk_app.devices import encode_jpeg

    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return encode_jpeg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_a_wrong_face_is_refused(run: dict[str, Any]) -> None:
    """Scenario 3: B's card, someone else's face: no session, nothing personal shown."""
    assert run["report"] is not None, run["stderr"]
    # the impostor's picture is a usable face, and not B's (refused for the face, not for
    # a blurred photo)
    impostor = PEOPLE[run["orientation"]]["impostor"][0]
    files = {"image": ("face.jpg", kiosk_jpeg(lfw(impostor)), "image/jpeg")}
    check = (
        run["staff"]
        .post(f"/persons/{run['world']['b']['person_id']}/face/verify", "clerk", files=files)
        .json()
    )
    assert (
        check["outcome"] == "failed" and check["distance"] is not None and check["distance"] > 0.6
    ), check
    opened = calls_of(run, "open_session")
    assert [("ok" in c, c.get("refused")) for c in opened] == [
        (True, None),
        (True, None),
        (False, "not_recognised"),
    ], opened
    refused = " ".join(shot(run, "not_recognised")["texts"])
    assert "没有认出您" in refused, refused
    balance = format_yuan(
        sum(p["personal_fen"] + p["government_fen"] for p in run["world"]["paid"])
    )
    after = [s for s in run["report"]["shots"] if s["visit"] == 2]
    assert [s["screen"] for s in after] == ["identify", "error", "take_card"]
    assert all(balance not in " ".join(s["texts"]) for s in after)
    surname = run["world"]["b"]["name"][0]
    assert all(surname not in " ".join(s["texts"]) for s in after)
    assert len(calls_of(run, "get_account")) == 1  # only B's own visit read the account
