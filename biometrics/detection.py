"""Face detection (dlib's HOG detector) and the 5-point alignment landmarks of the
template encoder. Everything else that needs landmarks (quality gate, liveness, preview
tracking) uses MediaPipe's face mesh (biometrics.mesh): dlib's 68-point model, whose
training data excludes commercial use, is not loaded any more (docs/biometrics.md).

We call dlib directly rather than through face_recognition's helpers: importing
face_recognition calls quit() when pkg_resources is missing, which would end a kiosk
process with status 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache

import cv2
import dlib
import numpy as np

from biometrics.models import check_models, model_path

# dlib's HOG detector finds faces from about 80 px; upsampling once reaches about 40 px.
HOG_MIN_FACE_PX = 80
# Large photos are detected on a copy at most this many pixels on the long side.
DETECT_MAX_SIDE = 1024

# dlib models are not documented as thread-safe; one lock keeps kiosk threads honest.
MODEL_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class Box:
    """A face rectangle in pixel coordinates of the analysed image."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def scaled(self, factor: float) -> Box:
        return Box(
            round(self.left * factor),
            round(self.top * factor),
            round(self.right * factor),
            round(self.bottom * factor),
        )

    def to_dlib(self) -> dlib.rectangle:
        return dlib.rectangle(self.left, self.top, self.right, self.bottom)

    @classmethod
    def from_dlib(cls, rect: dlib.rectangle) -> Box:
        return cls(rect.left(), rect.top(), rect.right(), rect.bottom())

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.right, self.bottom)


@dataclass(frozen=True, slots=True)
class Models:
    detector: dlib.fhog_object_detector
    landmarks_5: dlib.shape_predictor
    encoder: dlib.face_recognition_model_v1


@cache
def models() -> Models:
    """Load dlib's models once; raises ModelsMissingError with a clear message if absent."""
    check_models()
    return Models(
        detector=dlib.get_frontal_face_detector(),
        landmarks_5=dlib.shape_predictor(str(model_path("landmarks_5"))),
        encoder=dlib.face_recognition_model_v1(str(model_path("encoder"))),
    )


def detect_faces(image: np.ndarray, *, min_face_px: int = 40) -> list[Box]:
    """All frontal faces, largest first, in the image's own coordinates.

    Big photos are downscaled first (speed). Faces smaller than the detector's ~80 px
    window need an upsampled pass (about 4x slower), so it runs only when the plain pass
    found nothing or only faces small enough that a relevant smaller one could be missed.
    """
    height, width = image.shape[:2]
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    work = resize(image, scale) if scale < 1.0 else image
    with MODEL_LOCK:
        rects = list(models().detector(work, 0))
        small_ones_matter = min_face_px * scale < HOG_MIN_FACE_PX
        if small_ones_matter and (not rects or min(r.width() for r in rects) < 2 * HOG_MIN_FACE_PX):
            rects = list(models().detector(work, 1))
    boxes = [Box.from_dlib(r).scaled(1 / scale) for r in rects]
    return sorted(boxes, key=lambda b: b.width * b.height, reverse=True)


def landmarks(image: np.ndarray, box: Box, *, points: int = 5) -> np.ndarray:
    """dlib's 5 alignment landmarks as a float32 (5, 2) array of (x, y)."""
    if points != 5:
        raise ValueError("only the 5-point model is kept; use biometrics.mesh for landmarks")
    model = models().landmarks_5
    with MODEL_LOCK:
        shape = model(image, box.to_dlib())
    return shape_to_array(shape)


def shape_to_array(shape: dlib.full_object_detection) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def to_grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
