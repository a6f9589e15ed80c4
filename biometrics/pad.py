"""Passive presentation-attack signals, measured on the frames of a liveness sequence.

No registry package ships presentation-attack-detection model weights, so these are
measured features with thresholds, not a trained model; each was set on the shared photos,
the short clip and sequences synthesized from them (biometrics.sequences), and is reported
by `nongbao faces pad-evaluate`. A county should re-measure them on its own cameras.

- Repeated or still pictures: frames that are the same picture (a still photo sent N
  times), or a face whose landmarks all move as one plane in every frame (a photo held,
  moved, scaled or tilted), are `static_image`.
- Flat surface: between the neutral baseline and the peak of a head turn, the face's 468
  points of a real head do not move as one plane: a homography fitted to them leaves a
  residual (the nose moves against the cheeks). A photo moved, bent or tilted is explained
  by a homography (`flat_surface`).
- Motion that is not a head's: the part of the turn's motion a homography does not
  explain must follow the face's depth (the mesh's z at the baseline): a 3-D head fits an
  affine camera on (x, y, z). A 2-D warp of a photo that imitates a turn moves points by
  their position in the picture, not by their depth (`warped_motion`).
- Continuity: from one frame to the next the face may move only so far and its aligned
  appearance must stay correlated; a cut to another face or another clip breaks both
  (`face_changed`).
- Screen replay: a screen filmed by a camera shows moiré and refresh banding (isolated
  peaks in the spectrum of the face region and of the row means) and clipped specular
  highlights (`screen_replay`).
- Print: a print (or a photo of a photo) has a narrower colour gamut and loses fine
  texture (`print_attack`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from biometrics import geometry

# points of the face that do not move in a blink or with the mouth: the eye contours,
# lips and jaw below the mouth are left out of the rigid-motion fits
_NON_RIGID = set(geometry.RIGHT_EYE_CONTOUR) | set(geometry.LEFT_EYE_CONTOUR)
_NON_RIGID |= set(geometry.INNER_LIPS)


@dataclass(frozen=True, slots=True)
class PadPolicy:
    # a head turned 12+ degrees leaves >= ~0.04 interocular distances unexplained by a
    # homography; a tilted or bent photo ~0.01 (MediaPipe's jitter)
    flat_residual: float = 0.025
    # share of a turn's image motion that depth must explain (depth_explained), at the
    # best frame turned between turn_window degrees
    depth_explained: float = 0.55
    turn_window: tuple[float, float] = (8.0, 22.0)
    # a still picture: every frame within this homography residual of the first
    static_residual: float = 0.012
    static_ear_range: float = 0.04  # ... and the eyes and mouth never changed more than this
    # mean grey difference (64x48 thumbnails) under which two frames are one picture: a
    # camera's own noise on a person holding still stays above ~0.15
    repeat_diff: float = 0.05
    min_distinct: float = 0.5  # share of distinct frames a live sequence has at least
    max_jump: float = 0.35  # face centre move between consecutive frames, in face widths
    max_scale_jump: float = 0.25  # relative change of face size between consecutive frames
    # correlation of aligned 48x48 face crops between consecutive frames: genuine turns at 6
    # frames/s 0.58-0.84, cuts to another person 0.15-0.50 (the dlib templates spread over
    # the sequence catch a swap the crops miss)
    min_continuity: float = 0.5
    screen_peak: float = 150.0  # spectral peak over the spectrum's median (moiré, banding)
    print_chroma: float = 4.0  # chroma spread (std of a*, b*) of a print's face is lower
    print_texture: float = 8.0  # and its fine-detail energy (Laplacian std on 96 px face)


DEFAULT_PAD = PadPolicy()


def rigid_indices() -> np.ndarray:
    return np.array([i for i in range(468) if i not in _NON_RIGID])


def planar_residual(base: np.ndarray, other: np.ndarray) -> float:
    """RMS distance, in interocular distances, left by the best homography from the
    baseline's rigid points to another frame's."""
    idx = rigid_indices()
    src = base[idx, :2].astype(np.float64)
    dst = other[idx, :2].astype(np.float64)
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None:
        return float("inf")
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), matrix).reshape(-1, 2)
    rms = float(np.sqrt(((mapped - dst) ** 2).sum(axis=1).mean()))
    return rms / max(geometry.interocular(base), 1e-6)


def depth_explained(base_frame: np.ndarray, base: np.ndarray, frame: np.ndarray) -> float:
    """Share (0..1) of the image motion from the baseline frame to `frame`, measured by dense
    optical flow at the baseline's rigid mesh points, that the points' depth explains
    beyond an affine motion of the picture: the residual of a fit on (x, y, 1) against one
    on (x, y, z, 1). A turning head: 0.5-0.8 (its motion is linear in depth); a 2-D warp
    of a photo, which moves points by where they are in the picture: 0.15-0.45.

    Dense flow, not the mesh of the later frame: the mesh model fits a 3-D face prior to
    whatever it sees, so a warped photo's mesh looks like a turned head's."""
    idx = rigid_indices()
    flow = _flow(base_frame, frame)
    points = np.asarray(base, dtype=np.float64)[idx]
    height, width = flow.shape[:2]
    px = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    py = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    motion = flow[py, px].astype(np.float64)
    ones = np.ones((len(points), 1))
    flat = _fit_rms(np.hstack([points[:, :2], ones]), motion)
    deep = _fit_rms(np.hstack([points, ones]), motion)
    return max(0.0, 1.0 - deep / flat) if flat > 0 else 0.0


def _fit_rms(design: np.ndarray, target: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(np.sqrt(((design @ coef - target) ** 2).sum(axis=1).mean()))


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    grey_a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if a.ndim == 3 else a
    grey_b = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY) if b.ndim == 3 else b
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return np.asarray(dis.calc(grey_a, grey_b, None))  # type: ignore[call-overload]


# ---- pictures -------------------------------------------------------------------------


def thumbnail(frame: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)


def distinct_frames(frames: Sequence[np.ndarray], policy: PadPolicy = DEFAULT_PAD) -> int:
    """How many frames differ from the one before (a repeated picture counts once)."""
    thumbs = [thumbnail(f) for f in frames]
    count = 1 if thumbs else 0
    for a, b in itertools.pairwise(thumbs):
        if float(np.abs(a - b).mean()) > policy.repeat_diff:
            count += 1
    return count


def aligned_face(frame: np.ndarray, points: np.ndarray, size: int = 48) -> np.ndarray:
    """The face as a size x size grey crop, eyes at fixed places (similarity transform)."""
    right, left = geometry.eye_centres(points)
    mouth = np.asarray(points)[list(geometry.INNER_LIPS), :2].mean(axis=0)
    src = np.array([right, left, mouth], dtype=np.float32)
    dst = np.array(
        [[0.3 * size, 0.35 * size], [0.7 * size, 0.35 * size], [0.5 * size, 0.78 * size]],
        dtype=np.float32,
    )
    matrix, _ = cv2.estimateAffinePartial2D(src, dst)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    if matrix is None:
        return np.zeros((size, size), np.float32)
    return cv2.warpAffine(grey, matrix, (size, size)).astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def face_region(frame: np.ndarray, points: np.ndarray, width: int = 128) -> np.ndarray:
    """The inner face (between the eyes' outer corners, brow to chin) at a fixed width."""
    xy = np.asarray(points)[:, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    w = x1 - x0
    left, right = round(x0 + 0.15 * w), round(x1 - 0.15 * w)
    top, bottom = round(y0 + 0.15 * (y1 - y0)), round(y1 - 0.05 * (y1 - y0))
    crop = frame[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
    if crop.size == 0:
        return crop
    height = max(1, round(crop.shape[0] * width / crop.shape[1]))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def screen_peak(frame: np.ndarray, points: np.ndarray) -> float:
    """How much the strongest mid/high-frequency peak of the face region's spectrum stands
    above the spectrum's median there: moiré and refresh bands are such peaks."""
    face = face_region(frame, points)
    if face.size == 0:
        return 0.0
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float64)
    grey -= cv2.GaussianBlur(grey, (0, 0), 3)  # keep the fine structure only
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(grey * np.outer(*map(np.hanning, grey.shape)))))
    h, w = spectrum.shape
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot((yy - h / 2) / h, (xx - w / 2) / w)
    band = spectrum[(radius > 0.12) & (radius < 0.45)]
    if band.size == 0:
        return 0.0
    return float(band.max() / max(np.median(band), 1e-9))


def print_signals(frame: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """(chroma spread, fine texture) of the face region: a print's are both low."""
    face = face_region(frame, points, width=96)
    if face.size == 0:
        return 0.0, 0.0
    lab = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float64)
    chroma = float(np.sqrt(lab[..., 1].var() + lab[..., 2].var()))
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    texture = float(cv2.Laplacian(grey, cv2.CV_64F).std())
    return chroma, texture
