"""Genuine-looking liveness sequences synthesized from one photo, for tests, the demo and
the device simulators (there is no video of a resident blinking or turning).

How, honestly: MediaPipe's face mesh gives 468 points of the photo's face with a depth
each. The face is re-rendered with the mesh moved in 3-D: for a head turn every vertex is
rotated about a vertical axis behind the face, so the nose moves more than the cheeks and
the far cheek is foreshortened and partly hidden (triangles are drawn far to near); for a
blink the upper-lid vertices are lowered onto the lower lid (the lid skin stretches over
the eye); for an open mouth the lower lip and chin vertices are lowered and the gap is
filled with a dark mouth interior. Each triangle of the photo is mapped affinely onto its
moved position, and each frame gets its own sensor noise and a sub-pixel shake.

What this is not: a real face. The texture of the turned face is the photo's own (no ear
appears, the lighting does not change), and the depth is MediaPipe's estimate. The server's
3-D motion check (liveness_pad) accepts such sequences because their motion IS that of a
3-D face; an attacker who renders a photo this way and injects the frames past the camera
would pass it too. That attack is what signed captures and a device key held in hardware
address (docs/certification.md), not these signals.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from random import Random

import cv2
import numpy as np
from scipy.spatial import Delaunay

from biometrics.mesh import Mesh, face_mesh

# upper-lid contour with the matching lower-lid points, per eye (subject's right, left)
_LIDS = (
    ((246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155)),
    ((466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382)),
)
_ABOVE_LIDS = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
_UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_LOWER_INNER_LIP = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
_MOUTH_LINE = (13, 14)
_RING = 24  # anchor points around the face (the last anchors)


@dataclass(frozen=True, slots=True)
class Pose:
    """What the face does in one frame: yaw in degrees (positive = the subject's left),
    eyes closed (0..1), mouth opened (0..1)."""

    yaw: float = 0.0
    blink: float = 0.0
    mouth: float = 0.0


class FaceRenderer:
    """Re-renders one photo's face in other poses (see the module docstring)."""

    def __init__(self, image: np.ndarray, mesh: Mesh | None = None) -> None:
        found = mesh if mesh is not None else face_mesh(image)
        if found is None:
            raise ValueError("no face found in the photo")
        self.image = np.ascontiguousarray(image)
        self.mesh = found
        self._anchors = _anchors(image.shape, found.xy)
        self._source = np.vstack([found.xy, self._anchors])
        self._triangles = Delaunay(self._source).simplices
        xy, z = found.xy, found.points[:, 2]
        self._width = float(xy[:, 0].max() - xy[:, 0].min())
        self._centre_x = float(xy[:, 0].mean())
        # the head turns about a vertical axis about half a face width behind the face
        self._axis_z = float(z.mean()) + 0.5 * self._width

    def render(self, pose: Pose, *, shake: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        moved, depth = self._moved(pose)
        moved = moved + np.asarray(shake)
        dest = np.vstack([moved, self._anchors])
        dest_depth = np.concatenate([depth, np.full(len(self._anchors), 1e6)])
        region = np.vstack([moved, self.mesh.xy, self._anchors[-_RING:]])
        out = _warp(self.image, self._source, dest, self._triangles, dest_depth, region)
        if pose.blink >= 0.7:
            out = self._closed_lids(out, dest)
        if pose.mouth > 0.05:
            lips = [*(_UPPER_INNER_LIP), *(_LOWER_INNER_LIP)]
            polygon = np.round(dest[lips]).astype(np.int32)
            cv2.fillPoly(out, [polygon], (40, 18, 18))
        return out

    def _closed_lids(self, frame: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """Closed eyes: the eye opening is filled with the surrounding skin (inpainted) and a
        dark lash line drawn where the lids meet (the mesh warp alone leaves some iris)."""
        mask = np.zeros(frame.shape[:2], dtype=np.uint8)
        lines = []
        for upper, lower in _LIDS:
            eye = self.mesh.xy[[*upper, *lower[::-1]]]
            centre = eye.mean(axis=0)
            grown = (eye - centre) * np.array([1.25, 1.8]) + centre
            cv2.fillPoly(mask, [np.round(grown).astype(np.int32)], 255)
            lines.append(np.round(dest[list(lower)]).astype(np.int32))
        out = cv2.inpaint(frame, mask, 3, cv2.INPAINT_TELEA)
        thickness = max(2, round(self._width / 60))
        for line in lines:
            cv2.polylines(out, [line], False, (45, 32, 30), thickness, cv2.LINE_AA)
        return out

    def _moved(self, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
        xy = self.mesh.xy.copy()
        z = self.mesh.points[:, 2].copy()
        if pose.blink > 0:
            for (upper, lower), above in zip(_LIDS, _ABOVE_LIDS, strict=True):
                # each upper-lid vertex goes down to the lower lid at its own x
                low = xy[list(lower)]
                order = np.argsort(low[:, 0])
                target = np.interp(xy[list(upper), 0], low[order, 0], low[order, 1])
                gap = np.maximum(target - xy[list(upper), 1], 0.0)
                xy[list(upper), 1] += gap * pose.blink
                xy[list(above), 1] += gap * pose.blink * 0.6
        if pose.mouth > 0:
            xy = self._open_mouth(xy, pose.mouth)
        if pose.yaw:
            angle = math.radians(pose.yaw)
            dx, dz = xy[:, 0] - self._centre_x, z - self._axis_z
            xy[:, 0] = self._centre_x + dx * math.cos(angle) - dz * math.sin(angle)
            z = self._axis_z + dx * math.sin(angle) + dz * math.cos(angle)
        return xy, z

    def _open_mouth(self, xy: np.ndarray, amount: float) -> np.ndarray:
        line = float(xy[list(_MOUTH_LINE), 1].mean())
        corners = xy[[78, 308], 0]
        centre, half = float(corners.mean()), float(abs(corners[1] - corners[0])) / 2
        drop = amount * half * 0.6
        below = xy[:, 1] > line
        across = np.clip(1 - ((xy[:, 0] - centre) / (half * 2.6)) ** 2, 0, 1)
        xy[:, 1] += np.where(below, drop * across, 0.0)
        xy[list(_LOWER_INNER_LIP[1:-1]), 1] = np.maximum(
            xy[list(_LOWER_INNER_LIP[1:-1]), 1], line + drop * 0.8
        )
        return xy


def _anchors(shape: tuple[int, ...], xy: np.ndarray) -> np.ndarray:
    """Fixed points: the image border and a ring around the face, so the background stays
    where it is and only the region near the face stretches."""
    height, width = shape[:2]
    border = [
        (x, y)
        for x in np.linspace(0, width - 1, 6)
        for y in np.linspace(0, height - 1, 5)
        if x in (0, width - 1) or y in (0, height - 1)
    ]
    centre = xy.mean(axis=0)
    radius = (xy.max(axis=0) - xy.min(axis=0)) * 0.85
    ring = [
        (centre[0] + radius[0] * math.cos(a), centre[1] + radius[1] * math.sin(a))
        for a in np.linspace(0, 2 * math.pi, _RING, endpoint=False)
    ]
    ring = [(min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)) for x, y in ring]
    return np.array(border + ring, dtype=np.float64)


def _warp(
    image: np.ndarray,
    source: np.ndarray,
    dest: np.ndarray,
    triangles: np.ndarray,
    depth: np.ndarray,
    moving: np.ndarray,
) -> np.ndarray:
    """Piecewise-affine warp; where triangles overlap the nearest one is seen. Only the
    region of the `moving` points (inside the fixed anchor ring) is computed."""
    height, width = image.shape[:2]
    x0, y0 = np.floor(np.clip(moving.min(axis=0), 0, None)).astype(int)
    x1 = min(width, int(np.ceil(moving[:, 0].max())) + 1)
    y1 = min(height, int(np.ceil(moving[:, 1].max())) + 1)
    ids = np.full((y1 - y0, x1 - x0), -1, dtype=np.int32)
    order = np.argsort(-depth[triangles].mean(axis=1))  # far first, near drawn over it
    corners = np.round(dest[triangles] - (x0, y0)).astype(np.int32)
    for t in order:
        cv2.fillConvexPoly(ids, corners[t], int(t))
    d = np.concatenate([dest[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    singular = np.abs(np.linalg.det(d)) < 1e-6
    d[singular] = np.eye(3)
    matrices = np.linalg.solve(d, source[triangles])  # (T, 3, 2): [x y 1] @ M = source
    matrices[singular] = [[1, 0], [0, 1], [0, 0]]
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    covered = ids >= 0
    m = matrices[np.where(covered, ids, 0)].astype(np.float32)
    map_x, map_y = xs.copy(), ys.copy()
    map_x[covered] = (m[..., 0, 0] * xs + m[..., 1, 0] * ys + m[..., 2, 0])[covered]
    map_y[covered] = (m[..., 0, 1] * xs + m[..., 1, 1] * ys + m[..., 2, 1])[covered]
    out = image.copy()
    out[y0:y1, x0:x1] = cv2.remap(
        image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return out


# ---- timelines ------------------------------------------------------------------------

TURN_PEAK = 28.0  # degrees: people asked to turn go well beyond the 15 that count


def action_poses(action: str, fps: float) -> list[Pose]:
    """The poses of one action at `fps`: out to the peak, hold, back, a short neutral."""
    steps = max(3, round(0.5 * fps))
    ramp = [math.sin(math.pi / 2 * (i + 1) / steps) for i in range(steps)]
    profile = ramp + [1.0] * max(1, round(0.25 * fps)) + ramp[::-1][1:] + [0.0]
    profile += [0.0] * max(2, round(0.35 * fps))
    if action == "blink":
        # a blink is quick: closed for a frame or two
        quick = [0.6, 1.0, 1.0, 0.4] if fps >= 8 else [1.0, 1.0, 0.3]
        return [Pose(blink=b) for b in quick] + [Pose()] * max(3, round(0.5 * fps))
    if action == "open_mouth":
        return [Pose(mouth=a) for a in profile]
    sign = 1.0 if action == "turn_left" else -1.0
    return [Pose(yaw=sign * TURN_PEAK * a) for a in profile]


def timeline(actions: Sequence[str], fps: float, *, baseline_s: float = 0.8) -> list[Pose]:
    poses = [Pose()] * max(4, round(baseline_s * fps))
    for action in actions:
        poses += action_poses(action, fps)
    return poses


def genuine_sequence(
    image: np.ndarray,
    actions: Sequence[str],
    *,
    start: float,
    fps: float = 8.0,
    seed: int = 0,
    renderer: FaceRenderer | None = None,
    noise: float = 2.0,
) -> list[tuple[float, np.ndarray]]:
    """(timestamp, RGB frame) of the photo's face doing `actions` in order, at `fps`."""
    return list(
        sequence_frames(
            image, actions, start=start, fps=fps, seed=seed, renderer=renderer, noise=noise
        )
    )


def sequence_frames(
    image: np.ndarray,
    actions: Sequence[str],
    *,
    start: float,
    fps: float = 8.0,
    seed: int = 0,
    renderer: FaceRenderer | None = None,
    noise: float = 2.0,
) -> Iterator[tuple[float, np.ndarray]]:
    """genuine_sequence one frame at a time (a simulated camera plays each as it is made)."""
    face = renderer if renderer is not None else FaceRenderer(image)
    rng = Random(seed)
    nrng = np.random.default_rng(seed)
    for i, pose in enumerate(timeline(actions, fps)):
        shake = (rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8))
        frame = face.render(pose, shake=shake)
        if noise > 0:
            grain = nrng.integers(-round(noise), round(noise) + 1, frame.shape, dtype=np.int16)
            frame = np.clip(frame.astype(np.int16) + grain, 0, 255).astype(np.uint8)
        yield start + i / fps, frame


def camera_frame(image: np.ndarray, *, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The photo fitted into a camera-sized frame with a face about a third of its width
    (what a kiosk camera sees of a person in front of it), by padding or scaling."""
    mesh = face_mesh(image)
    if mesh is None:
        raise ValueError("no face found in the photo")
    xy = mesh.xy
    face_width = float(xy[:, 0].max() - xy[:, 0].min())
    scale = size[0] * 0.32 / face_width
    cx, cy = xy[:, 0].mean(), xy[:, 1].mean()
    tx, ty = size[0] * 0.5 - scale * cx, size[1] * 0.45 - scale * cy
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def jpeg(frame: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()


def simulated_capture(
    photo: np.ndarray,
    actions: Sequence[str],
    *,
    start: float,
    fps: float = 6.0,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
) -> tuple[list[bytes], list[dict[str, object]]]:
    """What a simulated kiosk or field device uploads for a challenge: JPEG frames of the
    photo's face doing `actions` (genuine_sequence, fitted into a `size` camera frame) and
    the evidence items naming them ({"t", "sample"}), as docs/certification.md fixes."""
    frames = genuine_sequence(
        camera_frame(photo, size=size), actions, start=start, fps=fps, seed=seed
    )
    return [jpeg(f) for _, f in frames], [
        {"t": round(t, 3), "sample": i} for i, (t, _) in enumerate(frames)
    ]
