"""The live-preview tracker: detection on a downscaled frame, landmark tracking between."""

from __future__ import annotations

import faces_synth as synth
import numpy as np
from conftest import FRONTAL, photo, points

from biometrics.detection import Box, detect_faces, landmarks
from biometrics.tracking import PreviewTracker


def test_tracker_detects_then_tracks_and_follows_a_moving_face() -> None:
    tracker = PreviewTracker(detect_every=4)
    results = []
    for i in range(8):
        frame = synth.framed(
            photo(FRONTAL), points(FRONTAL), face_px=200, centre=(0.4 + 0.02 * i, 0.45)
        )
        results.append(tracker.process(frame, timestamp=float(i)))
    tracked = [r for r in results if r is not None]
    assert len(tracked) == len(results)
    assert [r.detected for r in tracked] == [True, False, False, False, False, True, False, False]
    noses = [float(r.landmarks[30, 0]) for r in tracked]
    steps = np.diff(noses)
    assert np.all(np.abs(steps - 12.8) < 4)  # the face moves 12.8 px per frame


def test_tracker_works_in_full_resolution_coordinates() -> None:
    frame = synth.framed(photo(FRONTAL), points(FRONTAL), face_px=400, size=(1280, 960))
    face = PreviewTracker().process(frame, 0.0)
    assert face is not None
    assert 330 < face.box.width < 480  # mapped back from the 640x480 analysis frame
    assert np.all(face.landmarks[:, 0] < 1280)


def test_tracker_loses_a_face_that_left() -> None:
    tracker = PreviewTracker(detect_every=2)
    frame = synth.framed(photo(FRONTAL), points(FRONTAL), face_px=200)
    assert tracker.process(frame, 0.0) is not None
    empty = np.full_like(frame, 90)
    seen = [tracker.process(empty, float(t)) for t in range(1, 4)]
    assert seen[-1] is None


def test_box_from_landmarks_approximates_the_detector_box() -> None:
    image = photo(FRONTAL)
    detected = detect_faces(image)[0]
    derived = Box.around(landmarks(image, detected))
    for a, b in zip(detected.as_tuple(), derived.as_tuple(), strict=True):
        assert abs(a - b) < 0.12 * detected.width
