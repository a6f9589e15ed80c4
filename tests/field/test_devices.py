"""The field app's doors to the face engine, with real photos: the quality gate, the
preliminary distance, and liveness watching that a still photo cannot satisfy."""

from __future__ import annotations

import base64
from itertools import pairwise

import numpy as np

from field_app.devices import (
    BiometricsGate,
    BiometricsMatcher,
    BiometricsWatcher,
    FixedLocator,
    SimulatedWatcher,
    open_locator,
)
from field_app.ports import Fix
from tests.backend.cert_helpers import ENROL_A, OTHER, SAME_A
from tests.field.test_sync import rgb


def template_of(name: str) -> str:
    from biometrics import templates

    result = templates.enrol([rgb(name)])
    assert result.ok and result.template is not None
    return base64.b64encode(templates.to_bytes(result.template)).decode()


def test_the_gate_passes_a_good_photo_and_guides_in_chinese_otherwise() -> None:
    gate = BiometricsGate()
    assert gate.assess(rgb(SAME_A)).ok
    dark = gate.assess(np.zeros((480, 640, 3), np.uint8))
    assert not dark.ok and not dark.face_found and dark.zh and dark.en


def test_the_preliminary_distance_tells_the_same_person_from_another() -> None:
    matcher, enrolled = BiometricsMatcher(), template_of(ENROL_A)
    same, other = matcher.distance(enrolled, rgb(SAME_A)), matcher.distance(enrolled, rgb(OTHER))
    assert same is not None and other is not None and same <= 0.50 < 0.60 < other
    assert matcher.distance("", rgb(SAME_A)) is None
    assert matcher.distance(enrolled, np.zeros((200, 200, 3), np.uint8)) is None


def test_a_still_photo_never_completes_an_action_but_is_measured() -> None:
    watcher, photo = BiometricsWatcher(), rgb(SAME_A)
    watcher.begin(("blink", "open_mouth"), 1000.0)
    results = [watcher.feed(photo, 1000.0 + 0.1 * i) for i in range(12)]
    assert all(done == 0 for done, _ in results)
    item = results[-1][1]
    assert (
        item is not None
        and item["face"] is True
        and len(item["shape"]) == 468  # the normalised face mesh (biometrics.liveness)
        and 0 < item["ear"] < 1
    )


def test_the_simulated_watcher_completes_each_action_in_turn() -> None:
    w = SimulatedWatcher()
    w.begin(("turn_left", "blink"), 0.0)
    out = [w.feed(np.zeros((2, 2, 3), np.uint8), 0.1 * i) for i in range(10)]
    assert [d for d, _ in out] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    turning, blinking = out[3][1], out[6][1]
    assert turning is not None and blinking is not None
    assert turning["yaw"] == 22.0 and blinking["ear"] == 0.12


def test_locations() -> None:
    assert open_locator(True, None).fix() == Fix(30.657, 104.066, 8.0)
    assert FixedLocator(None).fix() is None
    assert open_locator(False, Fix(1.0, 2.0, 3.0)).fix() == Fix(1.0, 2.0, 3.0)
    assert open_locator(False, None).fix() is None  # no GPS on this machine: no made-up position


def test_the_sequence_camera_plays_the_challenge_and_the_server_accepts_it() -> None:
    """The simulated camera plays the photo's face doing the challenge in 3-D; the watcher
    reports each action once its part has been fed, with the frames' capture times; what
    the flow would sample passes the server's own liveness measurement."""
    from biometrics.image import load_image
    from biometrics.liveness import Action, Challenge, verify_frames
    from client import clock
    from field_app.devices import SequenceCamera, encode_jpeg
    from field_app.flow import SAMPLE_INTERVAL_S
    from tests.e2e.test_field_e2e import lfw

    actions: tuple[Action, ...] = ("blink", "turn_left")
    watcher = SimulatedWatcher()
    camera = SequenceCamera(lfw(SAME_A), watcher)
    try:
        still = camera.latest()
        assert still is not None and watcher.feed(still.image, 0.0) == (0, None)
        watcher.begin(actions, clock.timestamp())
        frames: list[tuple[float, np.ndarray]] = []
        progress: list[int] = []
        last_index = -1
        for _ in range(100_000):  # bounded; the playback waits for each frame to be fed
            frame = camera.latest()
            if frame is None or frame.index == last_index:
                camera._stopped.wait(0.01)
                continue
            last_index = frame.index
            done, item = watcher.feed(frame.image, clock.timestamp())
            if item is not None:
                # as the server gets it: the JPEG the app sends
                frames.append((item["t"], load_image(encode_jpeg(frame.image))))
                progress.append(done)
            if done == len(actions):
                break
    finally:
        camera.close()
    stamps = [t for t, _ in frames]
    assert all(b - a >= SAMPLE_INTERVAL_S for a, b in pairwise(stamps))
    assert stamps[-1] <= clock.timestamp()  # capture times, never ahead of the clock
    assert progress == sorted(progress) and progress[-1] == 2 and progress[0] == 0
    challenge = Challenge("c", "n", actions, stamps[0] - 60, stamps[0] + 3600)
    verdict = verify_frames(challenge, frames, clock.timestamp())
    assert verdict.result.passed, verdict
