"""Synthesized liveness frames made from still photos (the shared set has no blink or
head-turn video). Each edit imitates what the landmark model sees during an action:
closed eyelids, a parted mouth, the nose moving against the cheeks in a head turn.
"""

from __future__ import annotations

import cv2
import numpy as np


def close_eyes(image: np.ndarray, points: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Pull each upper eyelid down over the eye (amount 1 = fully closed).

    The skin between eye and brow is stretched downwards so the upper lash line meets the
    lower lid, as in a real blink.
    """
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dy = np.zeros((height, width), dtype=np.float32)
    for eye in (points[36:42], points[42:48]):
        left, right = float(eye[:, 0].min()), float(eye[:, 0].max())
        top, bottom = float(eye[1:3, 1].min()), float(eye[4:6, 1].max())
        eye_width = right - left
        brow = top - eye_width * 0.8
        lift = (bottom - top) * amount
        centre, half = (left + right) / 2, eye_width / 2 * 1.35
        wx = np.clip(1 - ((xs - centre) / half) ** 2, 0, 1) ** 0.5
        wy = np.clip((ys - brow) / (bottom - brow), 0, 1) * (ys <= bottom + 1)
        dy = np.maximum(dy, lift * wx * wy)
    return cv2.remap(image, xs, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def open_mouth(image: np.ndarray, points: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Pull the lower lip and chin down and fill the gap with a dark mouth interior."""
    height, width = image.shape[:2]
    mouth = points[48:60]
    left, right = mouth[:, 0].min(), mouth[:, 0].max()
    lip_line = float(points[62:67:2, 1].mean())  # between the inner lips
    chin = float(points[8, 1])
    drop = amount * (right - left) * 0.45
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    centre_x, half = (left + right) / 2, (right - left) / 2 * 1.3
    wx = np.clip(1 - ((xs - centre_x) / half) ** 2, 0, 1)
    wy = np.clip((chin + drop - ys) / (chin + drop - lip_line), 0, 1) * (ys >= lip_line)
    dy = drop * wx * wy
    src_y = (ys - dy).astype(np.float32)
    warped = cv2.remap(image, xs, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    gap = (src_y < lip_line) & (ys >= lip_line)
    warped[gap] = (35, 15, 15)
    return warped


def turn_head(image: np.ndarray, points: np.ndarray, degrees: float) -> np.ndarray:
    """Parallax warp: move the nose and centre of the face sideways against the jaw line.

    Positive degrees = the subject turns to their own left (nose to image right).
    """
    height, width = image.shape[:2]
    nose = points[30]
    face_width = float(np.linalg.norm(points[15] - points[1]))
    shift = np.sin(np.radians(degrees)) * face_width * 0.5
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    sigma_x, sigma_y = face_width * 0.28, face_width * 0.45
    weight = np.exp(-(((xs - nose[0]) / sigma_x) ** 2) / 2 - (((ys - nose[1]) / sigma_y) ** 2) / 2)
    src_x = (xs - shift * weight).astype(np.float32)
    return cv2.remap(image, src_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


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


def action_frames(image: np.ndarray, points: np.ndarray, action: str) -> list[np.ndarray]:
    """The frames of one synthesized action, ending back in the neutral pose."""
    if action == "blink":
        return [close_eyes(image, points, 0.5), close_eyes(image, points, 1.0), image]
    if action == "open_mouth":
        return [open_mouth(image, points, 0.5), open_mouth(image, points, 1.0), image]
    sign = 1.0 if action == "turn_left" else -1.0
    return [turn_head(image, points, sign * d) for d in (15, 30, 40, 20)] + [image]


def sequence(
    image: np.ndarray,
    points: np.ndarray,
    actions: list[str] | tuple[str, ...],
    *,
    start: float,
    fps: float = 5.0,
    neutral_frames: int = 3,
) -> list[tuple[float, np.ndarray]]:
    """A synthesized video: neutral frames, then each action, as (timestamp, frame)."""
    frames = [image] * neutral_frames
    for action in actions:
        frames += action_frames(image, points, action)
    return [(start + i / fps, frame) for i, frame in enumerate(frames)]


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
