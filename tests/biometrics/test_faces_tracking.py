"""The live-preview tracker: detection on a downscaled frame, landmark tracking between."""

from __future__ import annotations

import faces_synth as synth
import numpy as np
from conftest import FRONTAL, photo, points

from biometrics.detection import detect_faces
from biometrics.tracking import PreviewTracker, box_around


def test_tracker_detects_then_tracks_and_follows_a_moving_face() -> None:
    tracker = PreviewTracker(detect_every=4)
    results = []
    for i in range(8):
        frame = synth.framed(
            photo(FRONTAL), points(FRONTAL), face_px=200, centre=(0.4 + 0.02 * i, 0.45)
        )
        results.append(tracker.process(frame, timestamp=float(i)))
    assert all(r is not None for r in results)
    # MediaPipe detects on the first frame, then follows the mesh from frame to frame
    assert [r.detected for r in results] == [True] + [False] * 7  # type: ignore[union-attr]
    noses = [float(r.landmarks[1, 0]) for r in results]  # type: ignore[union-attr]
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


def test_box_from_the_mesh_approximates_the_detector_box() -> None:
    image = photo(FRONTAL)
    detected = detect_faces(image)[0]
    derived = box_around(points(FRONTAL))
    for a, b in zip(detected.as_tuple(), derived.as_tuple(), strict=True):
        assert abs(a - b) < 0.12 * detected.width
