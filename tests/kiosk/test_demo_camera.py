"""The demo kiosk's simulated camera (devices.ChallengeCamera: the demo resident's face doing
the challenge's actions) through the real controller: the evidence it sends is what a real
camera would film, however slowly the machine reads it, and the server's own liveness check
(biometrics.liveness.verify_frames, unchanged) passes it. The same frames stamped when a
slow reader got round to them are refused: the server's rate rule is not weakened."""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from client import clock as product_clock
from kiosk_app import flow as f
from kiosk_app.backend import SimulatedKioskBackend, demo_card
from kiosk_app.controller import KioskController
from kiosk_app.devices import ChallengeCamera
from kiosk_app.face import PlaybackActionWatcher
from kiosk_app.models import CertificationResult, LivenessEvidence, Resident

from .conftest import FakeClock
from .test_controller import make

S = f.Screen
READ_S = 0.4  # one camera read every 0.4 s of the product clock: a machine 5 times too slow


def demo_face() -> np.ndarray:
    """The demo resident's face as the demo kiosk's camera sees it (backend.demo's picture)."""
    from backend.demo import demo_face_png
    from biometrics.sequences import camera_frame

    with Image.open(io.BytesIO(demo_face_png())) as image:
        photo = np.asarray(image.convert("RGB"))
    return camera_frame(photo, size=(640, 480))


class Recorder(SimulatedKioskBackend):
    """The simulated backend, keeping what the kiosk submits."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.submitted: list[tuple[list[bytes], Any]] = []

    def submit_certification(
        self,
        resident: Resident,
        images: Sequence[bytes],
        frames: Sequence[bytes],
        evidence: LivenessEvidence,
        idempotency_key: str,
    ) -> CertificationResult:
        self.submitted.append((list(frames), evidence))
        return super().submit_certification(resident, images, frames, evidence, idempotency_key)


def certify_slowly(clock: FakeClock) -> tuple[list[bytes], Any, float, float]:
    """Certify at the demo camera, the product clock moving READ_S per camera read; the
    frames and evidence submitted, when the challenge began and when it was submitted."""
    from datetime import date

    camera = ChallengeCamera()
    camera.show([demo_face()])
    backend = Recorder(today=lambda: date(2026, 11, 27))
    c: KioskController
    c, p = make(clock, camera=camera, watcher=PlaybackActionWatcher(camera), backend=backend)
    c.camera_fps = camera.fps  # as assemble._demo_kiosk builds it
    start = product_clock.now()
    with product_clock.travel(start, tick=False):
        p["cards"].insert(demo_card(0))
        c.pump()
        for _ in range(60):
            if c.flow.screen == S.MENU:
                break
            c.camera_step()
            c.pump()
        assert c.flow.screen == S.MENU, c.flow.screen
        c.dispatch(f.Tap("certify"))
        c.pump()
        began = None
        for n in range(400):
            if backend.submitted:
                break
            if began is None and c.flow.screen == S.LIVENESS:
                began = product_clock.timestamp()
            product_clock.set_to(start + timedelta(seconds=READ_S * n), tick=False)
            c.camera_step()
            c.pump()
        assert backend.submitted, f"stuck at {c.flow.screen}"
        submitted_at = product_clock.timestamp()
    assert began is not None
    frames, evidence = backend.submitted[0]
    return frames, evidence, began, submitted_at


@pytest.fixture(scope="module")
def slow_run() -> tuple[list[bytes], Any, float, float]:
    return certify_slowly(FakeClock())


def decode(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_frames_are_stamped_at_the_cameras_pace_not_at_the_readers(slow_run: Any) -> None:
    frames, evidence, began, submitted_at = slow_run
    samples = [m for m in evidence.measurements if "sample" in m]
    stamps = [float(m["t"]) for m in samples]
    assert [m["sample"] for m in samples] == list(range(len(frames))) and len(frames) >= 12
    # one frame every 1/6 s of the playback, each once, from the challenge's start
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(abs(g - 1 / 6) < 1e-6 for g in gaps), gaps
    assert began - 1.0 <= stamps[0] and stamps[-1] <= submitted_at  # never from the future
    # every frame measured once: a frame read twice is not a new measurement
    all_stamps = [float(m["t"]) for m in evidence.measurements]
    assert all(b > a for a, b in itertools.pairwise(all_stamps))
    # the reads themselves were far slower than the camera
    assert submitted_at - began > 2 * (stamps[-1] - stamps[0])


def test_the_servers_check_passes_the_demo_camera_and_refuses_late_stamps(slow_run: Any) -> None:
    from biometrics.liveness import Challenge, verify_frames

    frames, evidence, began, submitted_at = slow_run
    samples = [m for m in evidence.measurements if "sample" in m]
    images = [decode(frames[int(m["sample"])]) for m in samples]
    actions = tuple(evidence.actions_done)
    challenge = Challenge("c", "n", actions, began - 30.0, began + 300.0)
    stamped = [(float(m["t"]), image) for m, image in zip(samples, images, strict=True)]
    verdict = verify_frames(challenge, stamped, submitted_at)
    assert verdict.result.passed, verdict
    # the same pictures stamped at the slow reader's pace (every other read, 0.8 s apart):
    # too few frames a second, and the server says so
    late = [(began + 2 * READ_S * i, image) for i, image in enumerate(images)]
    refused = verify_frames(challenge, late, began + 2 * READ_S * len(images))
    assert not refused.result.passed
    assert "not_enough_frames" in [r.code for r in refused.result.reasons]
