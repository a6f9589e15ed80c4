"""Measurements from MediaPipe's 468-point face mesh (see biometrics.mesh).

Ratios rather than pixel distances, so they do not change when a face (or a photo of
one) moves nearer, farther or sideways: a still photo waved in front of the camera keeps
the same eye, mouth and yaw ratios, which is what liveness relies on.

Point numbers are the mesh's canonical vertex indices. "Right" is the subject's right,
which is the image's left in an unmirrored camera frame.
"""

from __future__ import annotations

import math

import numpy as np

# eye: outer corner, two upper-lid points, inner corner, two lower-lid points
# (in the order of Soukupová & Čech's p1..p6)
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (263, 387, 385, 362, 380, 373)
RIGHT_EYE_CONTOUR = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE_CONTOUR = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
# inner lips: the corners, then three upper/lower pairs
MOUTH_CORNERS = (78, 308)
MOUTH_PAIRS = ((82, 87), (13, 14), (312, 317))
INNER_LIPS = (
    78,
    191,
    80,
    81,
    82,
    13,
    312,
    311,
    310,
    415,
    308,
    324,
    318,
    402,
    317,
    14,
    87,
    178,
    88,
    95,
)
NOSE_TIP = 1
CHEEK_RIGHT, CHEEK_LEFT = 234, 454  # the face's outline at about eye level
EYE_OUTER_RIGHT, EYE_OUTER_LEFT = 33, 263
FOREHEAD, CHIN = 10, 152


def _xy(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)[:, :2]


def eye_aspect_ratio(eye: np.ndarray) -> float:
    """Soukupová & Čech (2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|)."""
    vertical = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    horizontal = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(vertical / horizontal) if horizontal > 0 else 0.0


def ear(points: np.ndarray) -> float:
    """Mean eye aspect ratio of both eyes: ~0.28 open on the mesh, <0.12 closed."""
    p = _xy(points)
    return (eye_aspect_ratio(p[list(RIGHT_EYE)]) + eye_aspect_ratio(p[list(LEFT_EYE)])) / 2


def mouth_aspect_ratio(points: np.ndarray) -> float:
    """Mean inner-lip opening over inner-lip width; ~0 closed, >0.4 clearly open."""
    p = _xy(points)
    vertical = float(np.mean([np.linalg.norm(p[a] - p[b]) for a, b in MOUTH_PAIRS]))
    horizontal = float(np.linalg.norm(p[MOUTH_CORNERS[0]] - p[MOUTH_CORNERS[1]]))
    return vertical / horizontal if horizontal > 0 else 0.0


def yaw_degrees(points: np.ndarray) -> float:
    """Approximate head yaw from where the nose tip sits between the outer eye corners.

    Positive = the subject turned to their own left (nose towards image right in an
    unmirrored camera frame). The ratio is measured along the eye line, so it ignores
    in-plane rotation, scale and shifts; only a real 3-D turn moves the nose against the
    eyes (parallax). On the shared photos it follows the old dlib 68-point yaw at r 0.93 on
    the same scale (the mesh's silhouette points, which dlib's jaw points resemble, jump
    when a face turns; MediaPipe's own head-pose matrix has the opposite sign).
    """
    p = _xy(points)
    right, left, nose = p[EYE_OUTER_RIGHT], p[EYE_OUTER_LEFT], p[NOSE_TIP]
    axis = left - right
    length2 = float(axis @ axis)
    if length2 <= 0:
        return 0.0
    position = float((nose - right) @ axis) / length2  # 0 at the right eye, 1 at the left
    return math.degrees(math.asin(max(-1.0, min(1.0, 2.0 * position - 1.0))))


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = _xy(points)
    return p[list(RIGHT_EYE_CONTOUR)].mean(axis=0), p[list(LEFT_EYE_CONTOUR)].mean(axis=0)


def interocular(points: np.ndarray) -> float:
    right, left = eye_centres(points)
    return float(np.linalg.norm(left - right))


def roll_degrees(points: np.ndarray) -> float:
    """In-plane head tilt from the line between the eye centres."""
    right, left = eye_centres(points)
    dx, dy = left - right
    return math.degrees(math.atan2(dy, dx))


def eye_polygons(points: np.ndarray) -> list[np.ndarray]:
    p = _xy(points).astype(np.float32)
    return [p[list(RIGHT_EYE_CONTOUR)], p[list(LEFT_EYE_CONTOUR)]]


def face_aspect(points: np.ndarray) -> float:
    """Eye-to-mouth height over cheek-to-cheek width: a tilted flat photo changes it."""
    p = _xy(points)
    eyes = (eye_centres(p)[0] + eye_centres(p)[1]) / 2
    mouth = p[list(INNER_LIPS)].mean(axis=0)
    width = float(np.linalg.norm(p[CHEEK_LEFT] - p[CHEEK_RIGHT]))
    return float(np.linalg.norm(mouth - eyes)) / width if width > 0 else 0.0


def normalised_shape(points: np.ndarray) -> np.ndarray:
    """Landmarks with translation, scale and in-plane rotation removed (Procrustes)."""
    p = _xy(points)
    centred = p - p.mean(axis=0)
    scale = float(np.sqrt((centred**2).sum()))
    if scale == 0:
        return centred
    centred = centred / scale
    angle = math.radians(roll_degrees(p))
    c, s = math.cos(-angle), math.sin(-angle)
    return centred @ np.array([[c, s], [-s, c]], dtype=centred.dtype)
