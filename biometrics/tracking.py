"""Fast face analysis for the live camera preview.

Detection (HOG) is the expensive step, so it runs on a frame downscaled to at most
640x480 and only every few frames; in between, the face is followed by fitting the
landmarks inside a box derived from the previous frame's landmarks (the shape predictor
takes ~2 ms). A periodic re-detection catches a face that left or was replaced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from biometrics.detection import Box, detect_faces, landmarks, resize

PREVIEW_SIZE = (640, 480)
# At 640x480 a face under ~80 px is too far for verification anyway, and finding smaller
# ones needs an upsampled (4x slower) detection: the preview does not look for them.
PREVIEW_MIN_FACE_PX = 80


@dataclass(frozen=True, slots=True)
class TrackedFace:
    box: Box  # in the coordinates of the frame passed in
    landmarks: np.ndarray  # (68, 2) in the same coordinates
    detected: bool  # True when this frame ran the detector (not tracked)
    faces: int  # faces seen by the last detection
    timestamp: float


class PreviewTracker:
    """Feed camera frames in order; get the main face per frame (or None)."""

    def __init__(self, *, detect_every: int = 5, min_face_px: int = PREVIEW_MIN_FACE_PX) -> None:
        self.detect_every = detect_every
        self.min_face_px = min_face_px
        self._points: np.ndarray | None = None  # landmarks in preview coordinates
        self._since_detection = 0
        self._faces = 0

    def reset(self) -> None:
        self._points = None

    def process(self, frame: np.ndarray, timestamp: float | None = None) -> TrackedFace | None:
        stamp = time.time() if timestamp is None else timestamp
        scale = min(1.0, PREVIEW_SIZE[0] / frame.shape[1], PREVIEW_SIZE[1] / frame.shape[0])
        small = resize(frame, scale) if scale < 1.0 else frame
        detected = self._points is None or self._since_detection >= self.detect_every
        if detected:
            box = self._detect(small)
        else:
            assert self._points is not None  # `detected` is true when there are none
            box = Box.around(self._points)
            self._since_detection += 1
        if box is None:
            return None
        points = landmarks(small, box)
        if not detected and not _plausible(points, box, small.shape):
            # the fit wandered off (face left, occluded): detect from scratch
            box = self._detect(small)
            if box is None:
                return None
            points, detected = landmarks(small, box), True
        self._points = points
        inverse = 1.0 / scale
        return TrackedFace(box.scaled(inverse), points * inverse, detected, self._faces, stamp)

    def _detect(self, small: np.ndarray) -> Box | None:
        self._since_detection = 0
        boxes = detect_faces(small, min_face_px=self.min_face_px)
        self._faces = len(boxes)
        if not boxes:
            self._points = None
            return None
        return boxes[0]


def _plausible(points: np.ndarray, box: Box, shape: tuple[int, ...]) -> bool:
    """A tracked fit is kept only if it stays inside the frame and about the box's size."""
    height, width = shape[:2]
    span = float(np.ptp(points[:, 0]))
    inside = points[:, 0].min() > -0.1 * width and points[:, 0].max() < 1.1 * width
    inside = inside and points[:, 1].min() > -0.1 * height and points[:, 1].max() < 1.1 * height
    return inside and 0.6 * box.width < span < 1.6 * box.width
