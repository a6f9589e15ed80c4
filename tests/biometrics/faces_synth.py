"""Synthesized frames made from still photos (the shared set has no blink or head-turn
video): genuine-looking actions re-rendered from the face mesh in 3-D
(biometrics.sequences), the attacks of biometrics.attacks, and framing helpers.
"""

from __future__ import annotations

import cv2
import numpy as np

from biometrics import attacks
from biometrics.mesh import Mesh
from biometrics.sequences import FaceRenderer, Pose, genuine_sequence


def close_eyes(image: np.ndarray, points: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Closed eyelids: the face mesh's lids lowered onto the lower lids (sequences.py)."""
    return FaceRenderer(image, Mesh(np.asarray(points, dtype=np.float64))).render(
        Pose(blink=amount)
    )


def open_mouth(image: np.ndarray, points: np.ndarray, amount: float = 1.0) -> np.ndarray:
    return FaceRenderer(image, Mesh(np.asarray(points, dtype=np.float64))).render(
        Pose(mouth=amount)
    )


def turn_head(image: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """A GENUINE-looking turn: the face mesh rotated in 3-D (sequences.py).

    Positive degrees = the subject turns to their own left (nose to image right)."""
    return FaceRenderer(image, Mesh(np.asarray(points, dtype=np.float64))).render(Pose(yaw=degrees))


def warp_turn(image: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """The 2-D warp an attacker might use instead (attacks.py): refused as warped_motion."""
    return attacks.warp_turn(image, Mesh(np.asarray(points, dtype=np.float64)), degrees)


def shift_scale(image: np.ndarray, dx: float, dy: float, scale: float) -> np.ndarray:
    """A flat photo moved and brought nearer or farther (the whole picture, rigidly)."""
    height, width = image.shape[:2]
    matrix = np.array(
        [[scale, 0, dx + (1 - scale) * width / 2], [0, scale, dy + (1 - scale) * height / 2]]
    )
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def tilt_photo(image: np.ndarray, amount: float) -> np.ndarray:
    """A flat photo rotated about its vertical axis (perspective), as an attacker might."""
    height, width = image.shape[:2]
    inset = amount * height / 2
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    dst = np.array([[0, 0], [width, inset], [width, height - inset], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def sequence(
    image: np.ndarray,
    points: np.ndarray,
    actions: list[str] | tuple[str, ...],
    *,
    start: float,
    fps: float = 8.0,
    neutral_frames: int = 4,
) -> list[tuple[float, np.ndarray]]:
    """A synthesized video of the photo's face doing `actions` (sequences.genuine_sequence)."""
    del neutral_frames  # the timeline has its own neutral start
    renderer = FaceRenderer(image, Mesh(np.asarray(points, dtype=np.float64)))
    return genuine_sequence(image, actions, start=start, fps=fps, renderer=renderer)


def framed(
    image: np.ndarray,
    points: np.ndarray,
    *,
    face_px: float,
    centre: tuple[float, float] = (0.5, 0.45),
    size: tuple[int, int] = (640, 480),
) -> np.ndarray:
    """A camera-like frame of `size` with the face scaled to about face_px across and its
    centre at `centre` (fractions of the frame)."""
    points = np.asarray(points)[:, :2]
    face_width = float(points[:, 0].max() - points[:, 0].min())
    scale = face_px / face_width
    cx, cy = points[:, 0].mean(), points[:, 1].mean()
    tx, ty = centre[0] * size[0] - scale * cx, centre[1] * size[1] - scale * cy
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float64)
    return cv2.warpAffine(
        image, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


def id_card_photo(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A 102x126 ID-card-like photo (face ~80 px), JPEG-compressed like a card chip photo."""
    small = framed(image, points, face_px=72, centre=(0.5, 0.5), size=(102, 126))
    ok, encoded = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert decoded is not None
    return decoded[..., ::-1].copy()


def side_by_side(left: np.ndarray, right: np.ndarray, height: int = 480) -> np.ndarray:
    """Two photos in one picture (two people in front of the camera)."""
    parts = [
        cv2.resize(im, (round(im.shape[1] * height / im.shape[0]), height)) for im in (left, right)
    ]
    return np.ascontiguousarray(np.hstack(parts))
