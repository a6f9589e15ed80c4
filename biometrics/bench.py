"""Speed measurements for `nongbao faces bench` (medians over repeated runs).

Each figure comes with its floor: the same work done the plainest way with the libraries
alone (face_recognition, MediaPipe, numpy), timed alternately with the figure so both see the
same machine load, and the ratio figure / floor.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import ImageFile

from biometrics.detection import models, resize
from biometrics.index import TemplateIndex
from biometrics.mesh import face_mesh, new_solution
from biometrics.templates import distance, encode, verify
from biometrics.tracking import PreviewTracker


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    return paired_median_ms(fn, None, repeat)[0]


def paired_median_ms(
    fn: Callable[[], object], floor: Callable[[], object] | None, repeat: int
) -> tuple[float, float]:
    """Medians of a figure and of its floor, timed alternately: a load that comes and goes
    on the shared machine then weighs on both alike."""
    runs = [f for f in (fn, floor) if f is not None]
    times: list[list[float]] = [[] for _ in runs]
    for f in runs:
        f()  # warm-up: page cache, lazy model loading
    for _ in range(repeat):
        for f, spent in zip(runs, times, strict=True):
            start = time.perf_counter()
            f()
            spent.append(time.perf_counter() - start)
    medians = [round(statistics.median(t) * 1000, 2) for t in times]
    return medians[0], medians[-1] if floor is not None else 0.0


def ratio(figure_ms: float, floor_ms: float) -> float:
    """figure / floor of the reported (rounded) figures, so a reader can check it."""
    return round(figure_ms / floor_ms, 2) if floor_ms else 0.0


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
    static_floor = new_solution(static=True)

    def detect_and_landmarks() -> None:
        face_mesh(frame)  # detection and the 468-point mesh, each frame on its own

    def tracked_run(frames: int = 50) -> None:
        tracker = PreviewTracker(detect_every=5)
        for _ in range(frames):
            tracker.process(frame)

    def tracked_floor(frames: int = 50) -> None:
        # a fresh graph per run, as the figure's fresh tracker: the first frame detects
        with new_solution(static=False) as solution:
            for _ in range(frames):
                solution.process(frame)

    detect_ms, detect_floor_ms = paired_median_ms(
        detect_and_landmarks, partial(static_floor.process, frame), repeat
    )
    static_floor.close()
    tracked, floor = paired_median_ms(tracked_run, tracked_floor, max(3, repeat // 4))
    tracked_ms, tracked_floor_ms = round(tracked / 50, 2), round(floor / 50, 2)
    return {
        "preview_detect_landmarks_ms": detect_ms,
        "preview_detect_floor_ms": detect_floor_ms,
        "preview_detect_ratio": ratio(detect_ms, detect_floor_ms),
        "preview_fps_detect_every_frame": round(1000 / detect_ms, 1),
        "preview_tracked_mean_ms": tracked_ms,
        "preview_tracked_floor_ms": tracked_floor_ms,
        "preview_tracked_ratio": ratio(tracked_ms, tracked_floor_ms),
        "preview_fps_tracked": round(1000 / tracked_ms, 1) if tracked_ms else 0.0,
    }


def bench_verify(image: np.ndarray, reference: np.ndarray, repeat: int = 10) -> dict[str, float]:
    """A kiosk verification on a 640x480 frame: detection + encoding + comparison, and the
    full path with the quality gate in front."""
    frame = preview_frame(image)
    figure_ms, floor_ms = paired_median_ms(
        lambda: distance(encode(frame), reference), _raw_verify(frame, reference), repeat
    )
    return {
        "verify_encode_compare_ms": figure_ms,
        "verify_floor_ms": floor_ms,
        "verify_ratio": ratio(figure_ms, floor_ms),
        "verify_with_quality_gate_ms": median_ms(lambda: verify(frame, reference), repeat),
    }


def _raw_verify(frame: np.ndarray, reference: np.ndarray) -> Callable[[], float]:
    """The same verification by the face_recognition package alone. Its settings are the
    engine's on this frame: HOG, no upsampling (the engine's upsampled pass runs only when
    no face over 160 px is found), the 5-point model, no jitter."""
    models()  # checks pkg_resources first: without it the import below would quit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models: pkg_resources deprecated
        import face_recognition
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # face_recognition's import turns it on for all

    def run() -> float:
        locations = face_recognition.face_locations(frame, 0, "hog")
        # num_jitters=1 is dlib's single plain pass, the same as the engine's 0
        encodings = face_recognition.face_encodings(frame, locations, 1, "small")
        return float(np.linalg.norm(encodings[0] - reference))

    return run


def bench_search(sizes: list[int], repeat: int = 10, seed: int = 0) -> dict[str, float]:
    """Search latency at each size, on random unit-norm templates in a temporary index,
    against a numpy brute force over the same templates held in memory."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    matrix = np.empty((0, 128), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="nongbao-index-") as tmp:
        index = TemplateIndex(Path(tmp))
        for size in sorted(sizes):
            matrix = np.concatenate([matrix, _fill(index, size, rng)])
            query = rng.standard_normal(128).astype(np.float32) * 0.09
            figure_ms, floor_ms = paired_median_ms(
                partial(index.search, query, 5), partial(brute_force, matrix, query, 5), repeat
            )
            out[f"search_{size}_ms"] = figure_ms
            out[f"search_floor_{size}_ms"] = floor_ms
            out[f"search_ratio_{size}"] = ratio(figure_ms, floor_ms)
    return out


def brute_force(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    """The search's floor: every distance, then the k nearest rows, nearest first."""
    distances = np.linalg.norm(matrix - query, axis=1)
    nearest = np.argpartition(distances, k - 1)[:k]
    return nearest[np.argsort(distances[nearest])]


def _fill(index: TemplateIndex, size: int, rng: np.random.Generator) -> np.ndarray:
    """Grow the index to `size` templates; returns the ones added, in row order."""
    batch = 100_000
    added = []
    while len(index) < size:
        n = min(batch, size - len(index))
        vectors = rng.standard_normal((n, 128), dtype=np.float32)
        vectors *= 0.09  # dlib templates have norms around 1
        start = len(index)
        index.add_many(range(start, start + n), vectors)
        added.append(vectors)
    return np.concatenate(added) if added else np.empty((0, 128), dtype=np.float32)


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
