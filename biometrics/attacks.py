"""Presentation attacks synthesized from photos, for `nongbao faces pad-evaluate` and the
tests (ISO/IEC 30107-3 attack species). Each returns (timestamp, RGB frame) pairs as a
device would send them; the timestamps are whatever the attacker likes (here: plausible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from biometrics.mesh import Mesh, face_mesh
from biometrics.sequences import timeline

Frames = list[tuple[float, np.ndarray]]


def _stamped(frames: Sequence[np.ndarray], start: float, fps: float) -> Frames:
    return [(start + i / fps, f) for i, f in enumerate(frames)]


def shift_scale(image: np.ndarray, dx: float, dy: float, scale: float) -> np.ndarray:
    """A flat photo moved and brought nearer or farther (the whole picture, rigidly)."""
    height, width = image.shape[:2]
    matrix = np.array(
        [[scale, 0, dx + (1 - scale) * width / 2], [0, scale, dy + (1 - scale) * height / 2]]
    )
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def tilt_photo(image: np.ndarray, amount: float, *, vertical_axis: bool = True) -> np.ndarray:
    """A flat photo rotated in perspective about its vertical (or horizontal) axis."""
    height, width = image.shape[:2]
    inset = amount * (height if vertical_axis else width) / 2
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    if vertical_axis:
        dst = np.array(
            [[0, 0], [width, inset], [width, height - inset], [0, height]], dtype=np.float32
        )
    else:
        dst = np.array(
            [[0, 0], [width, 0], [width - inset, height], [inset, height]], dtype=np.float32
        )
    if amount < 0:
        dst = np.array(
            [[0, -inset], [width, 0], [width, height], [0, height + inset]], dtype=np.float32
        )
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def bend_photo(image: np.ndarray, amount: float) -> np.ndarray:
    """A photo bent about a vertical line (a curved print): x squeezed towards the sides."""
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs - width / 2) / (width / 2)
    src_x = (width / 2 + (width / 2) * np.sin(u * (1 + amount)) / np.sin(1 + amount)).astype(
        np.float32
    )
    return cv2.remap(image, src_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def still_photo(image: np.ndarray, *, start: float, count: int = 40, fps: float = 8.0) -> Frames:
    """The same picture sent `count` times."""
    return _stamped([image] * count, start, fps)


def moved_photo(
    image: np.ndarray, *, start: float, count: int = 40, fps: float = 8.0, seed: int = 0
) -> Frames:
    """A photo held in front of the camera: moved, scaled, tilted and bent along a path."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(count):
        phase = i / max(1, count - 1) * 2 * math.pi
        moved = shift_scale(
            image, 30 * math.sin(phase), 15 * math.cos(phase), 1 + 0.15 * math.sin(2 * phase)
        )
        moved = tilt_photo(moved, 0.25 * math.sin(phase + rng.uniform(0, 0.3)))
        moved = bend_photo(moved, 0.3 * abs(math.sin(phase)))
        frames.append(_grain(moved, rng))
    return _stamped(frames, start, fps)


def recaptured(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """A photo of a printed photo: the print's narrower colour gamut and paper tint, its
    halftone dots and lost fine detail, filmed again (blur, noise)."""
    rng = np.random.default_rng(seed)
    work = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.2)
    grey = work.mean(axis=2, keepdims=True)
    work = grey + (work - grey) * 0.55  # less saturated
    work = 40 + work * 0.7 + np.array([8.0, 5.0, -6.0], dtype=np.float32)  # paper tint, contrast
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width]
    dots = (np.sin(xs * 1.9) * np.sin(ys * 1.9)).astype(np.float32)[..., None] * 6
    work = work + dots + rng.normal(0, 2.0, work.shape).astype(np.float32)
    return np.clip(work, 0, 255).astype(np.uint8)


def photo_of_photo(
    image: np.ndarray, *, start: float, count: int = 40, fps: float = 8.0, seed: int = 0
) -> Frames:
    """A printed photo of the person held and moved in front of the camera."""
    return moved_photo(recaptured(image, seed), start=start, count=count, fps=fps, seed=seed)


def warp_turn(image: np.ndarray, mesh: Mesh, degrees: float) -> np.ndarray:
    """A 2-D warp imitating a head turn: the centre of the face shifted sideways against
    its outline, by position in the picture (no depth)."""
    height, width = image.shape[:2]
    xy = mesh.xy
    nose = xy[1]
    face_width = float(np.linalg.norm(xy[454] - xy[234]))
    shift = math.sin(math.radians(degrees)) * face_width * 0.5
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    sigma_x, sigma_y = face_width * 0.28, face_width * 0.45
    weight = np.exp(-(((xs - nose[0]) / sigma_x) ** 2) / 2 - (((ys - nose[1]) / sigma_y) ** 2) / 2)
    src_x = (xs - shift * weight).astype(np.float32)
    return cv2.remap(image, src_x, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warped_sequence(
    image: np.ndarray, actions: Sequence[str], *, start: float, fps: float = 8.0, seed: int = 0
) -> Frames:
    """The challenge's actions done by 2-D edits of one photo: turns by warp_turn; blinks
    and mouths by the genuine renderer's local edits (the strongest 2-D attacker)."""
    from biometrics.sequences import FaceRenderer, Pose

    mesh = face_mesh(image)
    if mesh is None:
        raise ValueError("no face in the photo")
    renderer = FaceRenderer(image, mesh)
    rng = np.random.default_rng(seed)
    frames = []
    for pose in timeline(actions, fps):
        local = renderer.render(Pose(blink=pose.blink, mouth=pose.mouth))
        frame = warp_turn(local, mesh, pose.yaw) if pose.yaw else local
        frames.append(_grain(frame, rng))
    return _stamped(frames, start, fps)


def _grain(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.integers(-2, 3, frame.shape, dtype=np.int16)
    return np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def face_swapped(first: Frames, second: Frames) -> Frames:
    """The first half of one person's sequence, then the rest of another's (same times)."""
    half = len(first) // 2
    return [*first[:half], *second[half:]]


def restamped(frames: Frames, start: float, fps: float = 8.0) -> Frames:
    """A recording replayed with fresh timestamps (the attacker writes the evidence)."""
    return _stamped([f for _, f in frames], start, fps)


def on_screen(image: np.ndarray, seed: int = 0) -> np.ndarray:
    """A photo shown on a screen and filmed: moiré between the pixel grid and the camera's
    sensor (two nearly parallel gratings), refresh banding (rows), a little glare."""
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0.05, 0.2)
    grating = np.sin((xs * math.cos(angle) + ys * math.sin(angle)) * 2.2)
    grating *= np.sin(xs * 2.25)
    bands = np.sin(ys * 0.35 + rng.uniform(0, 6))
    work = image.astype(np.float32) * 0.9 + 20
    work += (grating * 10 + bands * 5)[..., None]
    return np.clip(work, 0, 255).astype(np.uint8)


def screen_replay(frames: Frames, *, seed: int = 0) -> Frames:
    """A recorded sequence played on a screen in front of the camera."""
    return [(t, on_screen(f, seed + i)) for i, (t, f) in enumerate(frames)]
