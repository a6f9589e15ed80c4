"""The worst case of one certification's liveness decision on the server: MAX_FRAMES (90)
frames of 640x480 JPEG of a genuine three-action sequence, CPU time (time.process_time)
around face_engine.check_liveness, models loaded first. Prints one JSON line.

The floor, in the same run: MediaPipe's face mesh alone (the FaceMesh the server's liveness
runs on every frame, biometrics/mesh.py's options) on the same 90 frames, decoded
beforehand, CPU seconds: the landmarks any liveness decision on these frames must compute.
The ratio is figure / floor.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/liveness_cpu.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backend.services import face_engine
from backend.services.captures import MAX_FRAMES
from biometrics.image import load_image
from biometrics.mesh import new_solution
from biometrics.sequences import camera_frame, genuine_sequence, jpeg
from biometrics.templates import encode, to_bytes

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces" / "lfw" / "Donald_Rumsfeld"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def mesh_floor(frames: Sequence[bytes]) -> float:
    """CPU seconds of the face-mesh landmarks alone on the frames: MediaPipe's FaceMesh with
    the options of biometrics/mesh.py's `face_mesh` (static images, one face, no irises),
    as the server's liveness calls it on every frame; decoding is not counted."""
    images = [load_image(f) for f in frames]
    solution = new_solution(static=True)
    solution.process(images[0])  # the graph loaded first, as the figure's models are
    cpu = time.process_time()
    for image in images:
        solution.process(image)
    return time.process_time() - cpu


def report(cpu_s: float, floor_s: float) -> dict[str, Any]:
    """The figure, its floor and their ratio, the ratio from the rounded figures so that the
    printed numbers divide to the printed ratio."""
    cpu, floor = round(cpu_s, 2), round(floor_s, 2)
    return {"cpu_s": cpu, "floor_cpu_s": floor, "ratio": round(cpu / floor, 2) if floor else None}


def main() -> None:
    photo = load_image((FACES / "Donald_Rumsfeld_0003.jpg").read_bytes())
    reference = to_bytes(encode(load_image((FACES / "Donald_Rumsfeld_0001.jpg").read_bytes())))
    actions = ["turn_left", "blink", "open_mouth"]
    issued = 1_800_000_000.0
    start = issued + 0.3
    sequence = genuine_sequence(
        camera_frame(photo, size=(640, 480)), actions, start=start, fps=20.0, seed=1
    )[:MAX_FRAMES]
    frames = [jpeg(f) for _, f in sequence]
    items = [{"t": t, "sample": i} for i, (t, _) in enumerate(sequence)]
    evidence = json.dumps({"frames": items})
    window = (at(issued), at(issued + 60))
    warm = '{"frames":[{"t":1,"sample":0}]}'
    face_engine.check_liveness(
        "c", "n", actions, *window, warm, frames[:1], reference, at(issued + 20)
    )
    cpu, wall = time.process_time(), time.perf_counter()
    verdict = face_engine.check_liveness(
        "c", "n", actions, *window, evidence, frames, reference, at(issued + 20)
    )
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    floor_s = mesh_floor(frames)
    print(
        json.dumps(
            {
                "frames": len(frames),
                "bytes": sum(map(len, frames)),
                "passed": verdict.passed,
                "reasons": verdict.reasons,
                "wall_s": round(wall_s, 2),
                **report(cpu_s, floor_s),
            }
        )
    )


if __name__ == "__main__":
    main()
