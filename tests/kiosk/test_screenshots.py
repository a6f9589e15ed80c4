"""The real Kivy app under Xvfb, driven through its main screens in simulate mode.

Screenshots go to artifacts/screenshots/kiosk/{landscape,portrait}/. The tour checks the layout
of every screen (text inside its box, nothing off screen, touch targets >= 60 dp and not
overlapping, no text under 30 pt) and exits non-zero on any problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts" / "screenshots" / "kiosk"
EXPECTED = [
    "attract",
    "reading",
    "identify",
    "menu_due",
    "help",
    "menu_staff_called",
    "camera_guidance",
    "liveness",
    "liveness_step2_countdown",
    "submitting",
    "passed_printing",
    "take_card",
    "attract_result_kept",
    "menu_certified",
    "balance",
    "contributions",
    "payments",
    "menu_receipt_notice",
    "menu_english",
    "balance_english",
    "idle_warning",
    "unreachable",
    "referred_paper_out",
    "failed",
    "failed_staff_called",
    "failed_final_staff_call",
    "refused_card_mismatch",
    "menu_contributor",
    "take_id_card",
    "not_recognised",
    "refused_not_enrolled",
    "tech_pin",
    "tech_pin_wrong",
    "tech_menu",
    "tech_selftest_running",
    "tech_selftest",
    "tech_selftest_faults",
]


@pytest.fixture(scope="module", params=["landscape", "portrait"])
def tour(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    orientation = request.param
    env = dict(os.environ)
    env["KIVY_HOME"] = str(tmp_path_factory.mktemp("kivy"))
    env["KIVY_NO_ARGS"] = "1"
    env.pop("DISPLAY", None)
    cmd = [
        "xvfb-run",
        "-a",
        "-s",
        "-screen 0 1920x1920x24",
        sys.executable,
        "-m",
        "kiosk_app.screenshots",
        "--out",
        str(OUT),
    ]
    if orientation == "portrait":
        cmd.append("--portrait")
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    folder = OUT / orientation
    return {
        "orientation": orientation,
        "returncode": done.returncode,
        "stderr": done.stderr[-4000:],
        "folder": folder,
        "report": json.loads((folder / "report.json").read_text("utf-8"))
        if (folder / "report.json").is_file()
        else None,
    }


def test_the_tour_completes_with_no_layout_problem(tour: dict) -> None:
    assert tour["returncode"] == 0, tour["stderr"]
    report = tour["report"]
    assert report is not None
    problems = {name: s["issues"] for name, s in report["screens"].items() if s["issues"]}
    assert problems == {}


def test_every_screen_is_captured_at_the_right_size(tour: dict) -> None:
    size = (1920, 1080) if tour["orientation"] == "landscape" else (1080, 1920)
    files = sorted(tour["folder"].glob("[0-9]*.png"))
    names = [p.stem.split("_", 1)[1] for p in files]
    assert names == EXPECTED
    digests = set()
    for path in files:
        with Image.open(path) as image:
            assert image.size == size, path.name
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
        assert pixels.std() > 10, f"{path.name} looks blank"
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == len(files)  # every step shows something different


def test_the_window_really_had_the_requested_size(tour: dict) -> None:
    size = [1920, 1080] if tour["orientation"] == "landscape" else [1080, 1920]
    report = tour["report"]
    assert report is not None and report["size"] == size
    assert {tuple(s["window"]) for s in report["screens"].values()} == {tuple(size)}


def test_the_top_bar_carries_text_on_every_screen(tour: dict) -> None:
    # the title is white text on the blue bar; on overlay screens the page is dimmed and a
    # white card sits in the middle instead
    for path in sorted(tour["folder"].glob("[0-9]*.png")):
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        if "help" in path.name or "idle" in path.name:
            h, w = rgb.shape[:2]
            centre = rgb[h // 2 - 40 : h // 2 + 40, w // 2 - 200 : w // 2 + 200]
            assert (centre.min(axis=2) > 240).mean() > 0.3, f"{path.name}: no overlay card"
            bar = rgb[20:110, 20:700]
            assert (bar.min(axis=2) > 200).sum() == 0, f"{path.name}: page not dimmed"
            continue
        bar = rgb[20:110, 20:700]
        white = (bar.min(axis=2) > 200).sum()
        assert white > 300, f"{path.name}: no title text in the top bar"


def test_the_live_app_certifies_with_threads_and_the_real_clock(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["KIVY_HOME"] = str(tmp_path / "kivy")
    env.pop("DISPLAY", None)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1920x24", sys.executable, "-m"]
    cmd += ["kiosk_app.screenshots", "--live", "--out", str(OUT)]
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["camera_shot"] is True
    seen = summary["live"]
    assert seen[0] == "attract" and seen[-1] == "attract"
    for screen in ("menu", "camera", "liveness", "submitting", "take_card"):
        assert screen in seen
    with Image.open(OUT / "landscape" / "live_camera.png") as image:
        rgb = np.asarray(image.convert("RGB"))
    # the simulated face (skin tone) is on screen, i.e. the camera texture is drawn
    skin = (abs(rgb[..., 0].astype(int) - 224) < 12) & (abs(rgb[..., 1].astype(int) - 186) < 12)
    assert skin.sum() > 20_000


def test_a_contact_sheet_shows_every_screen_of_a_tour(tour: dict, tmp_path: Path) -> None:
    """The contact sheet of one tour's screenshots: a labelled thumbnail of every screen. (The
    tours also write the sheet of both orientations, artifacts/screenshots/kiosk/
    contact_sheet.png; this test does not depend on which tour ran first.)"""
    from kiosk_app.screenshots import contact_sheet

    orientation = tour["orientation"]
    shutil.copytree(OUT / orientation, tmp_path / orientation)
    sheet = contact_sheet(tmp_path)
    assert sheet is not None and sheet.is_file()
    with Image.open(sheet) as image:
        rows = -(-len(EXPECTED) // 6)
        assert image.width >= 6 * 384 and image.height >= rows * 384
