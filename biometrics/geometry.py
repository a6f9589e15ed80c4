"""Measurements from dlib's 68 landmarks (iBUG 300-W point layout).

Ratios rather than pixel distances, so they do not change when a face (or a photo of
one) moves nearer, farther or sideways: a still photo waved in front of the camera keeps
the same eye, mouth and yaw ratios, which is what liveness relies on.
"""

from __future__ import annotations

import math

import numpy as np

RIGHT_EYE = slice(36, 42)  # the subject's right eye, image left in an unmirrored camera
LEFT_EYE = slice(42, 48)
INNER_LIPS = slice(60, 68)
NOSE_TIP = 30
JAW_RIGHT, JAW_LEFT = 1, 15  # jaw points at about eye level


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """Soukupová & Čech (2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|); ~0.3 open, <0.15 closed."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def ear(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes."""
    return (eye_aspect_ratio(points[RIGHT_EYE]) + eye_aspect_ratio(points[LEFT_EYE])) / 2


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Mean inner-lip opening over inner-lip width; ~0 closed, >0.4 clearly open."""
    lips = points[INNER_LIPS]
    vertical = (
        np.linalg.norm(lips[1] - lips[7])
        + np.linalg.norm(lips[2] - lips[6])
        + np.linalg.norm(lips[3] - lips[5])
    ) / 3
    horizontal = np.linalg.norm(lips[0] - lips[4])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def yaw_degrees(points: np.ndarray) -> float:
    """Approximate head yaw from where the nose tip sits between the two sides of the jaw.

    Positive = the subject turned to their own left (nose towards image right in an
    unmirrored camera frame). The ratio is measured along the jaw line, so it ignores
    in-plane rotation, scale and shifts; only a real 3-D turn moves the nose against the
    cheeks (parallax).
    """
    right, left, nose = points[JAW_RIGHT], points[JAW_LEFT], points[NOSE_TIP]
    axis = left - right
    length2 = float(axis @ axis)
    if length2 <= 0:
        return 0.0
    position = float((nose - right) @ axis) / length2  # 0 at the right jaw, 1 at the left
    return math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * position - 1.0))))


def roll_degrees(points: np.ndarray) -> float:
    """In-plane head tilt from the line between the eye centres."""
    right = points[RIGHT_EYE].mean(axis=0)
    left = points[LEFT_EYE].mean(axis=0)
    dx, dy = left - right
    return math.degrees(math.atan2(dy, dx))


def eye_polygons(points: np.ndarray) -> list[np.ndarray]:
    return [points[RIGHT_EYE], points[LEFT_EYE]]


def normalised_shape(points: np.ndarray) -> np.ndarray:
    """Landmarks with translation, scale and in-plane rotation removed (Procrustes)."""
    centred = points - points.mean(axis=0)
    scale = float(np.sqrt((centred**2).sum()))
    if scale == 0:
        return centred
    centred = centred / scale
    angle = math.radians(roll_degrees(points))
    c, s = math.cos(-angle), math.sin(-angle)
    return centred @ np.array([[c, s], [-s, c]], dtype=centred.dtype)
