"""Active liveness on SYNTHESIZED frame sequences made from still photos (the shared set
has no blink or head-turn video): blinks by pulling the upper eyelids down, mouth opening
by pulling the lower lip down, head turns by a parallax warp of the nose against the jaw.
Then the attacks: still photo, moved photo, tilted photo, replay of another challenge,
face swap, expiry, timeouts.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from functools import cache

import faces_synth as synth
import numpy as np
import pytest
from conftest import LIVENESS_FACES, OTHER_PERSON, photo, points, template

from biometrics.liveness import (
    ACTIONS,
    Challenge,
    FrameMeasurement,
    LivenessSession,
    issue_challenge,
    measure,
    verify_evidence,
)
from biometrics.tracking import PreviewTracker

ISSUED = 1_000_000.0
FPS = 5.0


def challenge(*actions: str, ttl: float = 60.0) -> Challenge:
    return Challenge("test-challenge", "00" * 16, tuple(actions), ISSUED, ISSUED + ttl)  # type: ignore[arg-type]  # also unknown actions


@cache
def synthesized(
    name: str, actions: tuple[str, ...], neutral: int = 3
) -> tuple[FrameMeasurement, ...]:
    """Measurements of a synthesized sequence starting 1 s after the challenge was issued."""
    frames = synth.sequence(
        photo(name), points(name), actions, start=ISSUED + 1, fps=FPS, neutral_frames=neutral
    )
    return tuple(measure(frame, stamp) for stamp, frame in frames)


def retimed(
    ms: tuple[FrameMeasurement, ...] | list[FrameMeasurement], start: float, fps: float = FPS
) -> list[FrameMeasurement]:
    return [dataclasses.replace(m, timestamp=start + i / fps) for i, m in enumerate(ms)]


def codes(result) -> list[str]:
    return [r.code for r in result.reasons]


# ---- challenges ------------------------------------------------------------------------


def test_challenges_are_random_sequences_of_two_or_three_actions() -> None:
    rng = random.Random(42)
    issued = [issue_challenge(rng=rng, ttl=90, now=ISSUED) for _ in range(300)]
    assert {len(c.actions) for c in issued} == {2, 3}
    assert all(len(set(c.actions)) == len(c.actions) for c in issued)
    assert all(c.expires_at == ISSUED + 90 for c in issued)
    assert len({c.challenge_id for c in issued}) == 300
    assert len({c.nonce for c in issued}) == 300
    counts = Counter(a for c in issued for a in c.actions)
    assert set(counts) == set(ACTIONS)
    assert min(counts.values()) > 100  # every action is used, none dominates
    assert len({c.actions for c in issued}) > 20


def test_seeded_challenges_are_reproducible() -> None:
    a = issue_challenge(rng=random.Random(5), now=ISSUED)
    b = issue_challenge(rng=random.Random(5), now=ISSUED)
    assert a == b


def test_challenge_length_is_validated() -> None:
    with pytest.raises(ValueError):
        issue_challenge(length=1)


# ---- genuine (synthesized) sequences ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "actions"),
    [
        (LIVENESS_FACES[0], ("blink", "turn_left")),
        (LIVENESS_FACES[0], ("open_mouth", "turn_right", "blink")),
        (LIVENESS_FACES[1], ("turn_right", "open_mouth", "turn_left")),
    ],
)
def test_synthesized_genuine_sequence_passes(name: str, actions: tuple[str, ...]) -> None:
    result = verify_evidence(challenge(*actions), synthesized(name, actions), now=ISSUED + 30)
    assert result.passed, codes(result)
    assert [a.action for a in result.per_action] == list(actions)
    assert all(a.done and a.identity_checked for a in result.per_action)
    done = [a.completed_at for a in result.per_action if a.completed_at is not None]
    assert len(done) == len(result.per_action) and done == sorted(done)


def test_synthesized_raw_frames_pass_as_backend_evidence() -> None:
    name, actions = LIVENESS_FACES[1], ("blink", "open_mouth")
    frames = synth.sequence(photo(name), points(name), actions, start=ISSUED + 1, fps=FPS)
    result = verify_evidence(challenge(*actions), frames, now=ISSUED + 20, reference=template(name))
    assert result.passed, codes(result)


def test_synthesized_live_session_prompts_each_action_in_turn() -> None:
    name, actions = LIVENESS_FACES[0], ("open_mouth", "turn_right", "blink")
    session = LivenessSession(challenge(*actions))
    assert session.prompt.en.startswith("Please put your face")
    prompted: list[str] = []
    for m in synthesized(name, actions):
        p = session.feed(m)
        if p.action and (not prompted or prompted[-1] != p.action):
            prompted.append(p.action)
            assert p.zh and p.en and p.step == len(prompted) and p.total == 3
    assert prompted == list(actions)
    assert session.state == "passed"
    assert session.prompt.zh == "验证通过"


def test_synthesized_session_with_tracker_asks_for_identity_only_when_needed() -> None:
    name, actions = LIVENESS_FACES[0], ("open_mouth", "turn_left")
    frames = synth.sequence(photo(name), points(name), actions, start=ISSUED + 1, fps=FPS)
    tracker = PreviewTracker(detect_every=3)
    session = LivenessSession(challenge(*actions))
    descriptors = 0
    for stamp, frame in frames:
        wanted = session.needs_identity
        descriptors += wanted
        session.feed(
            measure(
                synth.framed(frame, points(name), face_px=220),
                stamp,
                identity=wanted,
                tracker=tracker,
            )
        )
    result = session.result(now=ISSUED + 20)
    assert result.passed, codes(result)
    assert 0 < descriptors < len(frames)


# ---- attacks ------------------------------------------------------------------------------


def test_still_photo_repeated_fails() -> None:
    still = synthesized(LIVENESS_FACES[0], ())[:1] * 40
    result = verify_evidence(
        challenge("blink", "turn_left"), retimed(still, ISSUED + 1), now=ISSUED + 20
    )
    assert not result.passed
    assert "static_image" in codes(result)
    assert not any(a.done for a in result.per_action)


@cache
def moved_photo() -> tuple[FrameMeasurement, ...]:
    name = LIVENESS_FACES[0]
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(25):
        image = photo(name)
        dx, dy = rng.uniform(-50, 50, 2)
        frames.append(synth.shift_scale(image, dx, dy, rng.uniform(0.75, 1.2)))
    return tuple(measure(f, ISSUED + 1 + i / FPS) for i, f in enumerate(frames))


@pytest.mark.parametrize("actions", [("blink", "open_mouth"), ("turn_left", "turn_right")])
def test_photo_shifted_and_scaled_in_front_of_the_camera_fails(actions: tuple[str, ...]) -> None:
    result = verify_evidence(challenge(*actions), moved_photo(), now=ISSUED + 20)
    assert not result.passed
    assert "static_image" in codes(result)
    assert not result.per_action[0].done


def test_photo_tilted_in_perspective_does_not_count_as_a_turn() -> None:
    name = LIVENESS_FACES[0]
    tilts = [0, 0, 0, 0.1, 0.2, 0.3, 0.35, 0.2, 0, -0.2, -0.35, -0.2, 0]
    frames = [(ISSUED + 1 + i / FPS, synth.tilt_photo(photo(name), t)) for i, t in enumerate(tilts)]
    result = verify_evidence(challenge("turn_left", "turn_right"), frames, now=ISSUED + 20)
    assert not result.passed
    assert not result.per_action[0].done


def test_replayed_video_of_another_challenge_fails_on_order() -> None:
    recorded = synthesized(LIVENESS_FACES[0], ("turn_left", "blink"))
    result = verify_evidence(challenge("blink", "turn_left"), recorded, now=ISSUED + 20)
    assert not result.passed
    assert codes(result) == ["wrong_action"]


def test_replay_with_actions_in_the_wrong_order_fails_even_without_turns() -> None:
    recorded = synthesized(LIVENESS_FACES[0], ("open_mouth", "turn_right", "blink"))
    result = verify_evidence(challenge("blink", "open_mouth"), recorded, now=ISSUED + 20)
    assert not result.passed


def test_face_swapped_mid_challenge_fails() -> None:
    first = list(synthesized(LIVENESS_FACES[0], ("blink",)))
    second = list(synthesized(OTHER_PERSON, ("turn_left",), neutral=1))
    result = verify_evidence(
        challenge("blink", "turn_left"), retimed(first + second, ISSUED + 1), now=ISSUED + 20
    )
    assert not result.passed
    assert codes(result) == ["face_changed"]
    assert result.per_action[0].done and not result.per_action[1].done


def test_someone_else_than_the_enrolled_person_fails() -> None:
    actions = ("blink", "turn_left")
    result = verify_evidence(
        challenge(*actions),
        synthesized(LIVENESS_FACES[0], actions),
        now=ISSUED + 20,
        reference=template(OTHER_PERSON),
    )
    assert not result.passed and codes(result) == ["not_reference"]


def test_expired_challenge_fails() -> None:
    actions = ("blink", "turn_left")
    late_check = verify_evidence(
        challenge(*actions, ttl=60), synthesized(LIVENESS_FACES[0], actions), now=ISSUED + 3600
    )
    assert not late_check.passed and "challenge_expired" in codes(late_check)
    frames_after_expiry = retimed(synthesized(LIVENESS_FACES[0], actions), ISSUED + 59)
    late_frames = verify_evidence(challenge(*actions, ttl=60), frames_after_expiry, now=ISSUED + 62)
    assert not late_frames.passed and "challenge_expired" in codes(late_frames)


def test_frames_recorded_before_the_challenge_fail() -> None:
    actions = ("blink", "turn_left")
    early = retimed(synthesized(LIVENESS_FACES[0], actions), ISSUED - 30)
    result = verify_evidence(challenge(*actions), early, now=ISSUED + 10)
    assert codes(result) == ["challenge_not_started"]


def test_too_slow_action_times_out() -> None:
    actions = ("blink", "turn_left")
    slow = retimed(synthesized(LIVENESS_FACES[0], actions), ISSUED + 1, fps=0.5)  # 2 s per frame
    result = verify_evidence(challenge(*actions, ttl=600), slow, now=ISSUED + 100)
    assert not result.passed and "action_timeout" in codes(result)


def test_frames_out_of_order_are_bad_evidence() -> None:
    actions = ("blink", "turn_left")
    shuffled = list(synthesized(LIVENESS_FACES[0], actions))
    shuffled[1], shuffled[2] = shuffled[2], shuffled[1]  # two neutral frames
    result = verify_evidence(challenge(*actions), shuffled, now=ISSUED + 20)
    assert codes(result) == ["bad_evidence"]


def test_actions_without_any_identity_check_fail() -> None:
    actions = ("blink", "turn_left")
    anonymous = [
        dataclasses.replace(m, descriptor=None) for m in synthesized(LIVENESS_FACES[0], actions)
    ]
    result = verify_evidence(challenge(*actions), anonymous, now=ISSUED + 20)
    assert all(a.done for a in result.per_action)
    assert not result.passed and codes(result) == ["identity_unchecked"]


def test_face_leaving_the_picture_fails() -> None:
    actions = ("blink", "turn_left")
    ms = list(synthesized(LIVENESS_FACES[0], actions))
    gone = [FrameMeasurement(0.0, None)] * 15
    result = verify_evidence(
        challenge(*actions), retimed(ms[:5] + gone + ms[5:], ISSUED + 1), now=ISSUED + 20
    )
    assert not result.passed and codes(result) == ["face_lost"]


def test_synthesized_glance_aside_during_a_blink_is_tolerated() -> None:
    name, actions = LIVENESS_FACES[0], ("blink", "turn_left")
    image, pts = photo(name), points(name)
    glance = [measure(synth.turn_head(image, pts, -25), 0.0), measure(image, 0.0)]
    ms = list(synthesized(name, actions))
    baseline_yaw = ms[0].yaw
    assert 12 < baseline_yaw - glance[0].yaw < 18  # a small look to the right, not a turn
    sequence = ms[:3] + glance + ms[3:]
    result = verify_evidence(challenge(*actions), retimed(sequence, ISSUED + 1), now=ISSUED + 20)
    assert result.passed, codes(result)


def test_challenge_round_trips_through_json() -> None:
    import json

    original = issue_challenge(rng=random.Random(9), now=ISSUED, ttl=45)
    restored = Challenge.from_dict(json.loads(json.dumps(original.as_dict())))
    assert restored == original
    tampered = {**original.as_dict(), "actions": ["blink", "nod_twice"]}
    with pytest.raises(ValueError):
        Challenge.from_dict(tampered)
