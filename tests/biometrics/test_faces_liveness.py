"""Liveness as the server measures it, on SYNTHESIZED frame sequences made from still
photos (the shared set has no blink or head-turn video): biometrics.sequences re-renders a
photo's face mesh in 3-D (a head turn with parallax, closed lids, an open mouth), and
biometrics.attacks makes the presentation attacks (still, moved, tilted, bent and printed
photos, replays of another challenge, face swaps, 2-D warps imitating a turn).
"""

from __future__ import annotations

import random
from collections import Counter
from functools import cache

import pytest
from conftest import LIVENESS_FACES, OTHER_PERSON, photo, template

from biometrics import attacks
from biometrics.liveness import (
    ACTIONS,
    TURNS,
    Challenge,
    FramesVerdict,
    LivenessSession,
    issue_challenge,
    measure,
    verify_frames,
)
from biometrics.sequences import camera_frame, genuine_sequence

ISSUED = 1_000_000.0
START = ISSUED + 0.5
FPS = 6.0
SIZE = (320, 240)


def challenge(*actions: str, ttl: float = 60.0) -> Challenge:
    return Challenge("test-challenge", "00" * 16, tuple(actions), ISSUED, ISSUED + ttl)  # type: ignore[arg-type]  # also unknown actions


@cache
def camera(name: str):
    return camera_frame(photo(name), size=SIZE)


@cache
def genuine(name: str, actions: tuple[str, ...], seed: int = 0) -> tuple:
    return tuple(genuine_sequence(camera(name), actions, start=START, fps=FPS, seed=seed))


def verify(
    actions: tuple[str, ...],
    frames,
    *,
    name: str = LIVENESS_FACES[0],
    now: float = START + 30,
    ttl: float = 60.0,
) -> FramesVerdict:
    return verify_frames(challenge(*actions, ttl=ttl), list(frames), now, reference=template(name))


def codes(verdict: FramesVerdict) -> list[str]:
    return [r.code for r in verdict.result.reasons]


# ---- challenges ------------------------------------------------------------------------


def test_challenges_are_random_sequences_of_two_or_three_actions_with_a_turn() -> None:
    rng = random.Random(42)
    issued = [issue_challenge(rng=rng, ttl=90, now=ISSUED) for _ in range(300)]
    assert {len(c.actions) for c in issued} == {2, 3}
    assert all(len(set(c.actions)) == len(c.actions) for c in issued)
    assert all(any(a in TURNS for a in c.actions) for c in issued)  # the 3-D proof
    assert all(c.expires_at == ISSUED + 90 for c in issued)
    assert len({c.nonce for c in issued}) == 300
    counts = Counter(a for c in issued for a in c.actions)
    assert set(counts) == set(ACTIONS)
    assert min(counts.values()) > 100
    assert len({c.actions for c in issued}) > 20
    assert {c.actions.index(next(a for a in c.actions if a in TURNS)) for c in issued} == {0, 1, 2}


def test_seeded_challenges_are_reproducible_and_validated() -> None:
    assert issue_challenge(rng=random.Random(5), now=ISSUED) == issue_challenge(
        rng=random.Random(5), now=ISSUED
    )
    with pytest.raises(ValueError):
        issue_challenge(length=1)
    original = issue_challenge(rng=random.Random(9), now=ISSUED, ttl=45)
    assert Challenge.from_dict(original.as_dict()) == original
    with pytest.raises(ValueError):
        Challenge.from_dict({**original.as_dict(), "actions": ["blink", "nod_twice"]})


# ---- genuine (synthesized) sequences ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "actions"),
    [
        (LIVENESS_FACES[0], ("blink", "turn_left")),
        (LIVENESS_FACES[0], ("open_mouth", "turn_right", "blink")),
        (LIVENESS_FACES[1], ("turn_right", "open_mouth", "turn_left")),
    ],
)
def test_genuine_sequence_passes_the_servers_check(name: str, actions: tuple[str, ...]) -> None:
    verdict = verify(actions, genuine(name, actions), name=name)
    assert verdict.result.passed, (codes(verdict), verdict.report)
    assert [a.action for a in verdict.result.per_action] == list(actions)
    assert all(a.done for a in verdict.result.per_action)
    assert verdict.report.identity_frames >= 2
    assert verdict.report.depth_explained is not None and verdict.report.depth_explained > 0.55


def test_live_session_prompts_each_action_in_turn() -> None:
    actions = ("open_mouth", "turn_right")
    session = LivenessSession(challenge(*actions))
    assert session.prompt.en.startswith("Please put your face")
    prompted: list[str] = []
    for stamp, frame in genuine(LIVENESS_FACES[0], actions):
        p = session.feed(measure(frame, stamp, identity=False))
        if p.action and (not prompted or prompted[-1] != p.action):
            prompted.append(p.action)
    assert prompted == list(actions)
    assert session.state == "passed" and session.prompt.zh == "验证通过"


# ---- attacks ------------------------------------------------------------------------------

ACTS = ("blink", "turn_left")


def test_one_still_photo_is_a_static_image_whatever_the_timestamps() -> None:
    for frames in (
        [(START, camera(LIVENESS_FACES[0]))],
        attacks.still_photo(camera(LIVENESS_FACES[0]), start=START, count=40, fps=FPS),
    ):
        verdict = verify(ACTS, frames)
        assert not verdict.result.passed and codes(verdict) == ["static_image"]


def test_a_few_frames_repeated_are_a_static_image() -> None:
    few = [f for _, f in genuine(LIVENESS_FACES[0], ACTS)][:3]
    frames = [(START + i / FPS, few[i % 3]) for i in range(30)]
    assert codes(verify(ACTS, frames))[0] == "static_image"


def test_photo_moved_scaled_tilted_and_bent_fails() -> None:
    frames = attacks.moved_photo(camera(LIVENESS_FACES[0]), start=START, count=30, fps=FPS)
    verdict = verify(ACTS, frames)
    assert not verdict.result.passed and "static_image" in codes(verdict)


def test_photo_of_a_photo_fails() -> None:
    frames = attacks.photo_of_photo(camera(LIVENESS_FACES[0]), start=START, count=30, fps=FPS)
    assert not verify(ACTS, frames).result.passed


def test_two_d_warp_imitating_a_head_turn_is_warped_motion() -> None:
    frames = attacks.warped_sequence(camera(LIVENESS_FACES[0]), ACTS, start=START, fps=FPS)
    verdict = verify(ACTS, frames)
    assert not verdict.result.passed and "warped_motion" in codes(verdict), verdict.report


def test_replay_of_another_challenge_fails_on_order() -> None:
    recorded = genuine(LIVENESS_FACES[0], ("turn_left", "blink"))
    verdict = verify(ACTS, attacks.restamped(list(recorded), START, FPS))
    assert not verdict.result.passed and "wrong_action" in codes(verdict)


def test_face_swapped_mid_sequence_fails() -> None:
    swapped = attacks.face_swapped(
        list(genuine(LIVENESS_FACES[0], ACTS)),
        list(genuine_sequence(camera(OTHER_PERSON), ACTS, start=START, fps=FPS)),
    )
    verdict = verify(ACTS, swapped)
    assert not verdict.result.passed and "face_changed" in codes(verdict)


def test_someone_else_than_the_enrolled_person_fails() -> None:
    verdict = verify_frames(
        challenge(*ACTS),
        list(genuine(LIVENESS_FACES[0], ACTS)),
        START + 30,
        reference=template(OTHER_PERSON),
    )
    assert not verdict.result.passed and "not_reference" in codes(verdict)


def test_timestamps_are_checked() -> None:
    frames = list(genuine(LIVENESS_FACES[0], ACTS))
    assert codes(verify(ACTS, attacks.restamped(frames, ISSUED - 30, FPS))) == [
        "challenge_not_started"
    ]
    assert "challenge_expired" in codes(verify(ACTS, frames, ttl=3))
    assert "challenge_expired" in codes(verify(ACTS, frames, now=ISSUED + 3600))
    shuffled = [frames[0], frames[2], frames[1], *frames[3:]]
    assert codes(verify(ACTS, shuffled)) == ["bad_evidence"]
    sparse = attacks.restamped(frames, START, 1.5)  # under 5 frames per second
    assert not verify(ACTS, sparse).result.passed
