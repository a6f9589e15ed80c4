"""Presentation-attack detection measured the ISO/IEC 30107-3 way: for each attack species,
the attack presentation classification error rate (APCER: the share of attacks that
passed), and for bona fide presentations the rejection rate (BPCER: the share of genuine
sequences refused). `nongbao faces pad-evaluate` prints them with their counts.

Every attempt is a random challenge (seeded) and a photo of the shared set; the frames go
through biometrics.liveness.verify_frames, the server's own check. Genuine sequences are
synthesized (biometrics.sequences: the photo's face mesh re-rendered in 3-D); the attacks
are biometrics.attacks. The API species (a still photo with made-up measurements sent to
the certification route) is run by the backend, which registers it in biometrics.cli.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import numpy as np

from biometrics import attacks, geometry, liveness
from biometrics.image import load_image
from biometrics.mesh import face_mesh
from biometrics.sequences import camera_frame, genuine_sequence
from biometrics.templates import encode

FPS = 6.0
SIZE = (320, 240)
SPECIES = (
    "moved_photo",
    "photo_of_photo",
    "replay_other_challenge",
    "face_swap",
    "warp_turn",
)


@dataclass
class Tally:
    attempts: int = 0
    passed: int = 0  # attacks: accepted (an error); bona fide: accepted (right)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, result: liveness.LivenessResult) -> None:
        self.attempts += 1
        self.passed += int(result.passed)
        for r in result.reasons:
            self.reasons[r.code] = self.reasons.get(r.code, 0) + 1

    def as_dict(self, *, bona_fide: bool = False) -> dict[str, object]:
        rate = (self.attempts - self.passed if bona_fide else self.passed) / max(1, self.attempts)
        key = "bpcer" if bona_fide else "apcer"
        errors = self.attempts - self.passed if bona_fide else self.passed
        return {
            "attempts": self.attempts,
            "errors": errors,
            key: round(rate, 4),
            "reasons": dict(sorted(self.reasons.items())),
        }


def usable_photos(paths: Sequence[Path], limit: int) -> list[Path]:
    """Photos whose face is frontal, eyes open and mouth closed: a neutral start."""
    chosen: list[Path] = []
    for path in paths:
        image = load_image(path)
        mesh = face_mesh(image)
        if mesh is None:
            continue
        p = mesh.points
        if (
            abs(geometry.yaw_degrees(p)) <= 10
            and geometry.mouth_aspect_ratio(p) < 0.15
            and geometry.ear(p) >= 0.2
            and abs(geometry.roll_degrees(p)) < 12
        ):
            chosen.append(path)
        if len(chosen) >= limit:
            break
    return chosen


def _challenge(rng: Random, start: float) -> liveness.Challenge:
    c = liveness.issue_challenge(rng=rng, now=start, ttl=60.0)
    return c


def evaluate(
    photos: Sequence[Path],
    *,
    seed: int = 0,
    per_photo: int = 1,
    progress: Callable[[], None] | None = None,
) -> dict[str, Tally]:
    """Tallies per species (and "bona_fide"), over each photo `per_photo` times."""
    rng = Random(seed)
    tallies = {name: Tally() for name in (*SPECIES, "bona_fide")}
    frames_of = [camera_frame(load_image(p), size=SIZE) for p in photos]
    for round_ in range(per_photo):
        for i, frame in enumerate(frames_of):
            other = frames_of[(i + 1) % len(frames_of)]
            _one_photo(frame, other, rng, tallies, seed=seed + round_ * 1000 + i)
            if progress is not None:
                progress()
    return tallies


def _one_photo(
    frame: np.ndarray, other: np.ndarray, rng: Random, tallies: dict[str, Tally], seed: int
) -> None:
    start = 1_000_000.0 + seed * 100
    ch = _challenge(rng, start)
    reference = encode(frame)
    first = start + 0.3
    genuine = genuine_sequence(frame, ch.actions, start=first, fps=FPS, seed=seed)

    def judge(name: str, frames: attacks.Frames) -> None:
        verdict = liveness.verify_frames(ch, frames, first + 30, reference=reference)
        tallies[name].add(verdict.result)

    judge("bona_fide", genuine)
    judge(
        "moved_photo",
        attacks.moved_photo(frame, start=first, count=len(genuine), fps=FPS, seed=seed),
    )
    judge(
        "photo_of_photo",
        attacks.photo_of_photo(frame, start=first, count=len(genuine), fps=FPS, seed=seed),
    )
    recorded_for = _other_order(ch.actions, rng)
    recording = genuine_sequence(frame, recorded_for, start=first - 600, fps=FPS, seed=seed + 1)
    judge("replay_other_challenge", attacks.restamped(recording, first, FPS))
    swapped = genuine_sequence(other, ch.actions, start=first, fps=FPS, seed=seed + 2)
    judge("face_swap", attacks.face_swapped(genuine, swapped))
    judge("warp_turn", attacks.warped_sequence(frame, ch.actions, start=first, fps=FPS, seed=seed))


def _other_order(actions: tuple[str, ...], rng: Random) -> tuple[str, ...]:
    """Another challenge's actions: the same ones in another order, or others."""
    while True:
        other = liveness.issue_challenge(rng=rng).actions
        if other != actions:
            return other


def report(tallies: dict[str, Tally], api: dict[str, object] | None = None) -> dict[str, Any]:
    species = {name: tallies[name].as_dict() for name in SPECIES}
    if api is not None:
        species = {"still_photo_api": api, **species}
    return {
        "species": species,
        "bona_fide": tallies["bona_fide"].as_dict(bona_fide=True),
        "max_apcer": max(float(s["apcer"]) for s in species.values()),  # type: ignore[arg-type]  # apcer is a float
    }


def api_tally(attempts: Sequence[dict[str, object]]) -> dict[str, object]:
    """The API species' attempts (backend.pad_api) as a species entry."""
    done = [a for a in attempts if "outcome" in a]
    passed = sum(1 for a in done if a["outcome"] == "passed" or a.get("receipt"))
    reasons: dict[str, int] = {}
    for a in done:
        for r in a.get("liveness", []):  # type: ignore[attr-defined]
            reasons[str(r)] = reasons.get(str(r), 0) + 1
    return {
        "attempts": len(done),
        "errors": passed,
        "apcer": round(passed / max(1, len(done)), 4),
        "reasons": dict(sorted(reasons.items())),
        "skipped": len(attempts) - len(done),
    }
