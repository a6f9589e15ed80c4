"""Fast face analysis for the live camera preview.

MediaPipe's face mesh in video mode: the face detector runs on the first frame (and again
when the face is lost); in between, the mesh is fitted from the previous frame's mesh, about
8 ms a frame at 640x480. Frames larger than that are analysed on a downscaled copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from biometrics.detection import Box, resize
from biometrics.mesh import MeshTracker

PREVIEW_SIZE = (640, 480)
# At 640x480 a face under ~80 px is too far for verification anyway.
PREVIEW_MIN_FACE_PX = 80


@dataclass(frozen=True, slots=True)
class TrackedFace:
    box: Box  # in the coordinates of the frame passed in
    landmarks: np.ndarray  # (468, 3) mesh points in the same coordinates (z in pixels)
    detected: bool  # True when this frame ran the detector (not tracked)
    faces: int  # faces seen (the mesh follows one)
    timestamp: float


def box_around(points: np.ndarray) -> Box:
    """The box dlib's HOG detector gives for this face mesh (median offsets measured on the
    shared face set), so the 5-point alignment of the template encoder sees the crop it
    was trained with."""
    xy = np.asarray(points)[:, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    w, h = x1 - x0, y1 - y0
    return Box(
        round(x0 - 0.05 * w), round(y0 + 0.03 * h), round(x1 + 0.04 * w), round(y1 - 0.06 * h)
    )


class PreviewTracker:
    """Feed camera frames in order; get the main face per frame (or None)."""

    def __init__(self, *, detect_every: int = 5, min_face_px: int = PREVIEW_MIN_FACE_PX) -> None:
        # detect_every is kept for callers; MediaPipe decides itself when to re-detect
        self.detect_every = detect_every
        self.min_face_px = min_face_px
        self._mesh = MeshTracker()
        self._tracking = False

    def reset(self) -> None:
        self._mesh.close()
        self._mesh = MeshTracker()
        self._tracking = False

    def process(self, frame: np.ndarray, timestamp: float | None = None) -> TrackedFace | None:
        stamp = time.time() if timestamp is None else timestamp
        scale = min(1.0, PREVIEW_SIZE[0] / frame.shape[1], PREVIEW_SIZE[1] / frame.shape[0])
        small = resize(frame, scale) if scale < 1.0 else frame
        mesh = self._mesh.process(small)
        detected = not self._tracking
        if mesh is None:
            self._tracking = False
            return None
        self._tracking = True
        points = mesh.points / scale
        box = box_around(points)
        if box.width * scale < self.min_face_px * 0.5:
            return None
        return TrackedFace(box, points, detected, 1, stamp)
