"""Speed measurements for `nongbao faces bench` (medians over repeated runs)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from biometrics.detection import models, resize
from biometrics.index import TemplateIndex
from biometrics.mesh import face_mesh
from biometrics.templates import distance, encode, verify
from biometrics.tracking import PreviewTracker


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: page cache, lazy model loading
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2)


def preview_frame(image: np.ndarray) -> np.ndarray:
    """The photo fitted into a 640x480 camera-like frame."""
    scale = min(640 / image.shape[1], 480 / image.shape[0])
    small = resize(image, scale)
    frame = np.full((480, 640, 3), 128, dtype=np.uint8)
    frame[: small.shape[0], : small.shape[1]] = small
    return frame


def bench_frame(image: np.ndarray, repeat: int = 20) -> dict[str, float]:
    frame = preview_frame(image)
    models()

    def detect_and_landmarks() -> None:
        face_mesh(frame)  # detection and the 468-point mesh, each frame on its own

    def tracked_run(frames: int = 50) -> None:
        tracker = PreviewTracker(detect_every=5)
        for _ in range(frames):
            tracker.process(frame)

    detect_ms = median_ms(detect_and_landmarks, repeat)
    tracked_ms = round(median_ms(tracked_run, max(3, repeat // 4)) / 50, 2)
    return {
        "preview_detect_landmarks_ms": detect_ms,
        "preview_fps_detect_every_frame": round(1000 / detect_ms, 1),
        "preview_tracked_mean_ms": tracked_ms,
        "preview_fps_tracked": round(1000 / tracked_ms, 1) if tracked_ms else 0.0,
    }


def bench_verify(image: np.ndarray, reference: np.ndarray, repeat: int = 10) -> dict[str, float]:
    """A kiosk verification on a 640x480 frame: detection + encoding + comparison, and the
    full path with the quality gate in front."""
    frame = preview_frame(image)
    return {
        "verify_encode_compare_ms": median_ms(lambda: distance(encode(frame), reference), repeat),
        "verify_with_quality_gate_ms": median_ms(lambda: verify(frame, reference), repeat),
    }


def bench_search(sizes: list[int], repeat: int = 10, seed: int = 0) -> dict[str, float]:
    """Search latency at each size, on random unit-norm templates in a temporary index."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="nongbao-index-") as tmp:
        index = TemplateIndex(Path(tmp))
        for size in sorted(sizes):
            _fill(index, size, rng)
            query = rng.standard_normal(128).astype(np.float32) * 0.09
            out[f"search_{size}_ms"] = median_ms(partial(index.search, query, 5), repeat)
    return out


def _fill(index: TemplateIndex, size: int, rng: np.random.Generator) -> None:
    batch = 100_000
    while len(index) < size:
        n = min(batch, size - len(index))
        vectors = rng.standard_normal((n, 128), dtype=np.float32)
        vectors *= 0.09  # dlib templates have norms around 1
        start = len(index)
        index.add_many(range(start, start + n), vectors)


def bench_video(path: Path, max_frames: int = 150) -> dict[str, float]:
    """The tracker over a real video clip (decoding excluded): frames per second."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while len(frames) < max_frames:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    if not frames:
        return {}
    tracker = PreviewTracker()
    start = time.perf_counter()
    found = sum(tracker.process(f, i / 30) is not None for i, f in enumerate(frames))
    elapsed = time.perf_counter() - start
    return {
        "video_frames": len(frames),
        "video_frames_with_face": found,
        "video_fps_tracked": round(len(frames) / elapsed, 1),
    }
