"""The worst case of one certification's liveness decision on the server: MAX_FRAMES (90)
frames of 640x480 JPEG of a genuine three-action sequence, CPU time (time.process_time)
around face_engine.check_liveness, models loaded first. Prints one JSON line.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/liveness_cpu.py
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from backend.services import face_engine
from backend.services.captures import MAX_FRAMES
from biometrics.image import load_image
from biometrics.sequences import camera_frame, genuine_sequence, jpeg
from biometrics.templates import encode, to_bytes

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces" / "lfw" / "Donald_Rumsfeld"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


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
    print(
        json.dumps(
            {
                "frames": len(frames),
                "bytes": sum(map(len, frames)),
                "passed": verdict.passed,
                "reasons": verdict.reasons,
                "cpu_s": round(time.process_time() - cpu, 2),
                "wall_s": round(time.perf_counter() - wall, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
