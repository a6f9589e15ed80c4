"""How long a 2-action and a 3-action liveness challenge take at the simulator's pace.

For each challenge length, a few random challenges (biometrics.liveness.issue_challenge) are
played the way the simulated kiosk camera (kiosk_app.devices.ChallengeCamera) plays them:
biometrics.sequences' timeline at the camera's render rate gives the playback seconds, and
the same frames are rendered from a real photo (read from ../shared/faces at run time, never
copied) to measure the CPU time of making them. The time budget is the county's policy
(face.action_seconds per action). Prints one JSON object.

    .venv/bin/python scripts/bench_liveness.py [--photo PATH] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_PHOTO = (
    ROOT.parent / "shared" / "faces" / "lfw" / "Donald_Rumsfeld" / "Donald_Rumsfeld_0003.jpg"
)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from PIL import Image

    from backend.policy.model import FacePolicy
    from biometrics import liveness, sequences
    from kiosk_app.config import KioskConfig
    from kiosk_app.devices import ChallengeCamera

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    camera = ChallengeCamera()
    policy = FacePolicy()
    config = KioskConfig()
    photo = np.asarray(Image.open(args.photo).convert("RGB")) if args.photo.is_file() else None
    steady_s = config.steady_frames / camera.fps  # good frames before the first action
    report: dict[str, object] = {
        "render_fps": camera.render_fps,
        "camera_fps": camera.fps,
        "policy": {
            "challenge_actions": policy.challenge_actions,
            "action_seconds": policy.action_seconds,
        },
    }
    rng = random.Random(7)
    for count in (2, 3):
        playback, render_cpu, per_action = [], [], []
        for _ in range(args.rounds):
            c = liveness.issue_challenge(rng=rng, length=count)
            poses = sequences.timeline(c.actions, camera.render_fps)
            playback.append(steady_s + len(poses) / camera.render_fps)
            per_action += [
                len(sequences.action_poses(a, camera.render_fps)) / camera.render_fps
                for a in c.actions
            ]
            if photo is not None:
                started = time.perf_counter()
                image = sequences.camera_frame(photo, size=camera.size)
                for _ in sequences.sequence_frames(
                    image, c.actions, start=0.0, fps=camera.render_fps
                ):
                    pass
                render_cpu.append(time.perf_counter() - started)
        report[f"{count}_actions"] = {
            "playback_s": round(statistics.mean(playback), 2),
            "longest_action_s": round(max(per_action), 2),
            "budget_s": count * policy.action_seconds,
            "render_cpu_s": round(statistics.mean(render_cpu), 2) if render_cpu else None,
        }
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
