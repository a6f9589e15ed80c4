"""Server CPU per kiosk certification against the encoder floor, printed as one JSON line.

The server's part of one kiosk certification, measured with time.process_time() and the
models loaded first, every cache cold:
- the template recompute: `face_engine.best_probe` on the best image the kiosk sends;
- the server-side liveness: `face_engine.check_liveness` on the frames of a genuine
  three-action challenge filmed at 5 frames a second, the fewest the decision accepts
  (docs/certification.md).

The floor is the encoder's own cost: one frame through the encoder (decode, face box,
template: `face_engine._probe`, the mean of several distinct frames) times the frames the
decision needs (the best image and each liveness frame). The ratio is server / floor.

    PYTHONPATH=. OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/cert_cpu_floor.py
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from backend.bench import encoder_cpu_per_frame
from backend.services import face_engine
from biometrics.image import load_image
from biometrics.sequences import camera_frame, genuine_sequence, jpeg
from biometrics.templates import encode, to_bytes

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "faces" / "lfw" / "Donald_Rumsfeld"
FPS = 5.0  # the fewest frames a second the liveness decision accepts
ACTIONS = ["turn_left", "blink", "open_mouth"]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _cold() -> None:
    face_engine._cache.clear()
    face_engine._analyses.clear()


def main() -> None:
    photo = load_image((FACES / "Donald_Rumsfeld_0003.jpg").read_bytes())
    reference = to_bytes(encode(load_image((FACES / "Donald_Rumsfeld_0001.jpg").read_bytes())))
    issued = 1_800_000_000.0
    first = camera_frame(photo, size=(640, 480))
    sequence = genuine_sequence(first, ACTIONS, start=issued + 0.3, fps=FPS, seed=1)
    frames = [jpeg(f) for _, f in sequence]
    best = jpeg(first)
    evidence = json.dumps({"frames": [{"t": t, "sample": i} for i, (t, _) in enumerate(sequence)]})
    window = (at(issued), at(issued + 60))
    now = at(issued + 20)

    # warm the models (not the caches): the first call loads them
    face_engine.check_liveness("c", "n", ACTIONS, *window, evidence, frames[:2], reference, now)
    per_frame = encoder_cpu_per_frame(frames)

    _cold()
    cpu, wall = time.process_time(), time.perf_counter()
    _, probe = face_engine.best_probe([best])
    template_s = time.process_time() - cpu
    verdict = face_engine.check_liveness(
        "c", "n", ACTIONS, *window, evidence, frames, reference, now
    )
    server = time.process_time() - cpu
    needed = len(frames) + 1
    floor = per_frame * needed
    print(
        json.dumps(
            {
                "frames": len(frames),
                "fps": FPS,
                "template_ok": probe.template is not None,
                "liveness_passed": verdict.passed,
                "reasons": verdict.reasons,
                "server_cpu_s": round(server, 3),
                "template_cpu_s": round(template_s, 3),
                "liveness_cpu_s": round(server - template_s, 3),
                "wall_s": round(time.perf_counter() - wall, 3),
                "encoder_per_frame_cpu_s": round(per_frame, 4),
                "frames_needed": needed,
                "floor_cpu_s": round(floor, 3),
                "ratio": round(server / floor, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
