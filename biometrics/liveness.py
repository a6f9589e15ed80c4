"""Active liveness: the person performs a random sequence of 2-3 actions on request.

A still photo cannot blink or open its mouth, and moving, scaling or tilting a flat photo
does not move the nose against the cheeks (yaw here is a landmark ratio, see geometry).
A replayed video was recorded for some other random sequence, so its actions come in
the wrong order. Identity is checked throughout, so one person cannot do the actions
and another take over. The kiosk feeds frames live (LivenessSession.feed tells the UI
what to prompt next); the backend re-runs verify_evidence on the frames it was sent.

Actions are in the subject's own terms: turn_left = the person turns to their left,
which moves the nose towards the right of an unmirrored camera image.
"""

from __future__ import annotations

import math
import secrets
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, Literal, cast

import numpy as np

from biometrics import geometry
from biometrics.detection import Box, detect_faces, landmarks, resize
from biometrics.image import ensure_rgb
from biometrics.reasons import Reason, reason
from biometrics.templates import distance, encode
from biometrics.tracking import PREVIEW_MIN_FACE_PX, PREVIEW_SIZE, PreviewTracker

Action = Literal["blink", "turn_left", "turn_right", "open_mouth"]
ACTIONS: tuple[Action, ...] = ("blink", "turn_left", "turn_right", "open_mouth")
TURNS = ("turn_left", "turn_right")

PROMPTS: dict[str, tuple[str, str]] = {
    "blink": ("请眨眨眼", "Please blink"),
    "turn_left": ("请向左转头", "Please turn your head to your left"),
    "turn_right": ("请向右转头", "Please turn your head to your right"),
    "open_mouth": ("请张张嘴", "Please open your mouth"),
    "neutral": ("请正对摄像头", "Please look straight at the camera"),
    "face": ("请把脸对准摄像头", "Please put your face in front of the camera"),
    "hold": ("请保持不动", "Please hold still"),
    "passed": ("验证通过", "Done: liveness check passed"),
    "failed": ("验证未通过", "Liveness check failed"),
}


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge_id: str
    nonce: str
    actions: tuple[Action, ...]
    issued_at: float
    expires_at: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, for the backend to store and send to the kiosk."""
        return {
            "challenge_id": self.challenge_id,
            "nonce": self.nonce,
            "actions": list(self.actions),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        actions = tuple(str(a) for a in data["actions"])
        unknown = set(actions) - set(ACTIONS)
        if unknown or not 2 <= len(actions) <= len(ACTIONS):
            raise ValueError(f"not a valid challenge action list: {list(actions)}")
        return cls(
            challenge_id=str(data["challenge_id"]),
            nonce=str(data["nonce"]),
            actions=cast("tuple[Action, ...]", actions),  # each one checked against ACTIONS
            issued_at=float(data["issued_at"]),
            expires_at=float(data["expires_at"]),
        )


def issue_challenge(
    *,
    rng: Random | None = None,
    ttl: float = 60.0,
    now: float | None = None,
    length: int | None = None,
) -> Challenge:
    """A random sequence of 2 or 3 different actions. Use the default (system) randomness
    in production; pass a seeded Random only in tests."""
    source = rng if rng is not None else secrets.SystemRandom()
    count = length if length is not None else source.choice((2, 3))
    if not 2 <= count <= len(ACTIONS):
        raise ValueError(f"a challenge has 2 to {len(ACTIONS)} actions, not {count}")
    issued = time.time() if now is None else now
    return Challenge(
        challenge_id=str(uuid.UUID(int=source.getrandbits(128), version=4)),
        nonce=f"{source.getrandbits(128):032x}",
        actions=tuple(source.sample(ACTIONS, count)),
        issued_at=issued,
        expires_at=issued + ttl,
    )


@dataclass(frozen=True)
class FrameMeasurement:
    """What liveness needs from one frame. `descriptor` (the 128-d template) is optional
    per frame: it is the expensive part, and one per action is enough."""

    timestamp: float
    box: Box | None
    ear: float = 0.0
    mar: float = 0.0
    yaw: float = 0.0
    aspect: float = 0.0  # eye-to-mouth height / jaw width: a tilted flat photo changes it
    shape: np.ndarray | None = field(default=None, repr=False)  # normalised 68 landmarks
    descriptor: np.ndarray | None = field(default=None, repr=False)

    @property
    def has_face(self) -> bool:
        return self.box is not None


def measure(
    frame: np.ndarray,
    timestamp: float | None = None,
    *,
    identity: bool = True,
    tracker: PreviewTracker | None = None,
) -> FrameMeasurement:
    """Measure one RGB frame. With a tracker (live preview) detection is amortised."""
    stamp = time.time() if timestamp is None else timestamp
    frame = ensure_rgb(frame)
    if tracker is not None:
        tracked = tracker.process(frame, stamp)
        if tracked is None:
            return FrameMeasurement(stamp, None)
        box, points = tracked.box, tracked.landmarks
    else:
        scale = min(1.0, PREVIEW_SIZE[0] / frame.shape[1], PREVIEW_SIZE[1] / frame.shape[0])
        boxes = detect_faces(
            resize(frame, scale) if scale < 1 else frame, min_face_px=PREVIEW_MIN_FACE_PX
        )
        if not boxes:
            return FrameMeasurement(stamp, None)
        box = boxes[0].scaled(1 / scale)
        points = landmarks(frame, box)
    descriptor = encode(frame, box) if identity else None
    return measure_points(points, box, stamp, descriptor)


def measure_points(
    points: np.ndarray, box: Box, timestamp: float, descriptor: np.ndarray | None = None
) -> FrameMeasurement:
    return FrameMeasurement(
        timestamp=timestamp,
        box=box,
        ear=geometry.ear(points),
        mar=geometry.mouth_aspect_ratio(points),
        yaw=geometry.yaw_degrees(points),
        aspect=face_aspect(points),
        shape=geometry.normalised_shape(points),
        descriptor=descriptor,
    )


def face_aspect(points: np.ndarray) -> float:
    eyes = (points[36:42].mean(axis=0) + points[42:48].mean(axis=0)) / 2
    mouth = points[48:60].mean(axis=0)
    jaw = float(np.linalg.norm(points[15] - points[1]))
    return float(np.linalg.norm(mouth - eyes)) / jaw if jaw > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    action_timeout: float = 8.0  # seconds per action, including the return to neutral
    baseline_frames: int = 3  # neutral frames before the first prompt
    blink_closed: float = 0.80  # EAR at most this share of the open-eye baseline
    blink_open: float = 0.92  # ... and back above this share
    steady_aspect: float = 0.08  # relative change of face proportions allowed in a blink
    turn_degrees: float = 12.0  # yaw away from the baseline that counts as a turn
    # a turn nobody asked for fails the check only when clearly deliberate: elderly people
    # glance around while they blink or open their mouth
    wrong_turn_degrees: float = 18.0
    # (tilting a flat photo moves it by ~5; people asked to turn go well beyond 20)
    neutral_degrees: float = 8.0
    calibrate_max_yaw: float = 20.0
    mouth_open: float = 0.18  # MAR above the baseline
    same_person_at: float = 0.60  # template distance between frames of one challenge
    identity_max_yaw: float = 12.0  # turned faces give unreliable templates: not compared
    max_face_lost: float = 2.0  # seconds without a face before failing
    static_spread: float = 0.0025  # below this landmark spread the "face" never moved
    static_min_frames: int = 10  # judge stillness only over this many face frames
    grace: float = 10.0  # seconds after expiry within which evidence may arrive


DEFAULT_POLICY = LivenessPolicy()

State = Literal["waiting", "action", "neutral", "passed", "failed"]


@dataclass(frozen=True, slots=True)
class Prompt:
    state: State
    action: str | None  # the action to prompt, when state == "action"
    zh: str
    en: str
    step: int  # 1-based number of the current action
    total: int


@dataclass
class ActionResult:
    action: Action
    done: bool = False
    started_at: float | None = None
    completed_at: float | None = None
    identity_checked: bool = False


@dataclass(frozen=True)
class LivenessResult:
    passed: bool
    reasons: list[Reason]
    per_action: list[ActionResult]


class LivenessSession:
    """Frame-by-frame checker of one challenge. Feed measurements in time order."""

    def __init__(
        self,
        challenge: Challenge,
        *,
        policy: LivenessPolicy = DEFAULT_POLICY,
        reference: np.ndarray | None = None,
    ) -> None:
        self.challenge = challenge
        self.policy = policy
        self.reference = reference
        self.state: State = "waiting"
        self.per_action = [ActionResult(a) for a in challenge.actions]
        self.reasons: list[Reason] = []
        self._step = 0
        self._neutral: list[FrameMeasurement] = []
        self._blink_closed = False
        self._anchor: np.ndarray | None = None
        self._last_face_at: float | None = None
        self._last_timestamp = -math.inf
        self._shapes: list[np.ndarray] = []

    # ---- public -----------------------------------------------------------------------

    @property
    def needs_identity(self) -> bool:
        """True while the current action has no identity-checked frame: the caller should
        compute a descriptor for the next frame (it costs ~80 ms, so not for every frame)."""
        if self.state not in ("waiting", "action", "neutral"):
            return False
        if self._anchor is None:
            return True
        current = self.per_action[self._step]
        return self.state in ("action", "neutral") and not current.identity_checked

    def feed(self, m: FrameMeasurement) -> Prompt:
        if self.state in ("passed", "failed"):
            return self.prompt
        if not self._check_time(m):
            return self.prompt
        if not m.has_face:
            self._on_no_face(m.timestamp)
            return self.prompt
        self._last_face_at = m.timestamp
        if m.shape is not None:
            self._shapes.append(m.shape)
        if (
            m.descriptor is not None
            and self._comparable(m)
            and not self._check_identity(m.descriptor)
        ):
            return self.prompt
        if self.state == "waiting":
            self._calibrate(m)
        elif self.state == "action":
            self._on_action_frame(m)
        elif self.state == "neutral":
            self._on_neutral_frame(m)
        return self.prompt

    @property
    def prompt(self) -> Prompt:
        total = len(self.per_action)
        step = min(self._step + 1, total)
        if self.state == "action":
            action = self.per_action[self._step].action
            zh, en = PROMPTS[action]
            return Prompt("action", action, zh, en, step, total)
        key = {"waiting": "face", "neutral": "neutral"}.get(self.state, self.state)
        if self.state == "waiting" and self._neutral:
            key = "hold"
        zh, en = PROMPTS[key]
        return Prompt(self.state, None, zh, en, step, total)

    def result(self, now: float) -> LivenessResult:
        """The verdict once the frames are in. Unfinished actions count as timed out."""
        if now > self.challenge.expires_at + self.policy.grace:
            self._fail("challenge_expired")
        if self.state not in ("passed", "failed"):
            self._fail("not_enough_frames" if self.state == "waiting" else "action_timeout")
        if self._is_static():
            self._add_reason("static_image")
            self.state = "failed"
        if self.state == "passed" and not all(a.identity_checked for a in self.per_action):
            self._fail("identity_unchecked")
        return LivenessResult(self.state == "passed", list(self.reasons), list(self.per_action))

    # ---- steps ------------------------------------------------------------------------

    def _check_time(self, m: FrameMeasurement) -> bool:
        if m.timestamp < self._last_timestamp:
            return self._fail("bad_evidence")
        self._last_timestamp = m.timestamp
        if m.timestamp < self.challenge.issued_at:
            return self._fail("challenge_not_started")
        if m.timestamp > self.challenge.expires_at:
            return self._fail("challenge_expired")
        if self.state in ("action", "neutral"):
            started = self.per_action[self._step].started_at
            if started is not None and m.timestamp - started > self.policy.action_timeout:
                return self._fail("action_timeout")
        return True

    def _on_no_face(self, timestamp: float) -> None:
        if (
            self._last_face_at is not None
            and timestamp - self._last_face_at > self.policy.max_face_lost
        ):
            self._fail("face_lost")

    def _check_identity(self, descriptor: np.ndarray) -> bool:
        if (
            self.reference is not None
            and distance(descriptor, self.reference) > self.policy.same_person_at
        ):
            return self._fail("not_reference")
        if self._anchor is None:
            self._anchor = descriptor
        elif distance(descriptor, self._anchor) > self.policy.same_person_at:
            return self._fail("face_changed")
        if self.state in ("action", "neutral"):
            self.per_action[self._step].identity_checked = True
        return True

    def _comparable(self, m: FrameMeasurement) -> bool:
        base = self._baseline("yaw") if self._neutral else 0.0
        return abs(m.yaw - base) <= self.policy.identity_max_yaw

    def _calibrate(self, m: FrameMeasurement) -> None:
        if abs(m.yaw) > self.policy.calibrate_max_yaw:
            return  # the baseline must be taken facing the camera
        self._neutral.append(m)
        if len(self._neutral) >= self.policy.baseline_frames:
            self._start_action(m.timestamp)

    def _start_action(self, timestamp: float) -> None:
        self.state = "action"
        self._blink_closed = False
        self.per_action[self._step].started_at = timestamp

    def _on_action_frame(self, m: FrameMeasurement) -> None:
        current = self.per_action[self._step]
        wrong_turn = self._turn_of(m, self.policy.wrong_turn_degrees)
        if wrong_turn is not None and wrong_turn != current.action:
            self._fail("wrong_action")
            return
        if self._completes(current.action, m):
            current.done = True
            current.completed_at = m.timestamp
            self.state = "neutral"
            self._on_neutral_frame(m)

    def _on_neutral_frame(self, m: FrameMeasurement) -> None:
        if not self._is_neutral(m):
            return
        self._remember_neutral(m)
        if self._step + 1 >= len(self.per_action):
            self.state = "passed"
            self.reasons = []
            return
        self._step += 1
        self._start_action(m.timestamp)

    def _completes(self, action: Action, m: FrameMeasurement) -> bool:
        if action in TURNS:
            return self._turn_of(m) == action
        if action == "open_mouth":
            return m.mar - self._baseline("mar") >= self.policy.mouth_open
        return self._blink_step(m)

    def _blink_step(self, m: FrameMeasurement) -> bool:
        """A blink is eyes clearly closing, then reopening, with the face otherwise steady
        (tilting a photo also shortens the eyes, but changes the face's proportions)."""
        ear_base = self._baseline("ear")
        steady = abs(m.aspect / self._baseline("aspect") - 1) <= self.policy.steady_aspect
        if not self._blink_closed:
            self._blink_closed = steady and m.ear <= self.policy.blink_closed * ear_base
            if not self._blink_closed and self._is_neutral(m):
                self._remember_neutral(m)
            return False
        return m.ear >= self.policy.blink_open * ear_base

    def _turn_of(self, m: FrameMeasurement, degrees: float | None = None) -> Action | None:
        limit = self.policy.turn_degrees if degrees is None else degrees
        delta = m.yaw - self._baseline("yaw")
        if delta >= limit:
            return "turn_left"
        if delta <= -limit:
            return "turn_right"
        return None

    def _is_neutral(self, m: FrameMeasurement) -> bool:
        return (
            abs(m.yaw - self._baseline("yaw")) <= self.policy.neutral_degrees
            and m.mar - self._baseline("mar") < self.policy.mouth_open / 2
            and m.ear >= self.policy.blink_open * self._baseline("ear")
        )

    def _remember_neutral(self, m: FrameMeasurement) -> None:
        # a rolling window keeps the baselines current if the person shifts a little
        self._neutral = [*self._neutral[-14:], m]

    def _baseline(self, name: str) -> float:
        return statistics.median(getattr(n, name) for n in self._neutral)

    def _is_static(self) -> bool:
        """True when the landmarks never changed shape: a still picture, even if moved."""
        if len(self._shapes) < self.policy.static_min_frames:
            return False
        stacked = np.stack(self._shapes)
        spread = np.abs(stacked - np.median(stacked, axis=0)).mean(axis=(1, 2)).max()
        return bool(spread < self.policy.static_spread)

    def _fail(self, code: str) -> bool:
        self.state = "failed"
        self._add_reason(code)
        return False

    def _add_reason(self, code: str) -> None:
        if all(r.code != code for r in self.reasons):
            self.reasons.append(reason(code))


Evidence = Sequence[FrameMeasurement] | Sequence[tuple[float, np.ndarray]]


def verify_evidence(
    challenge: Challenge,
    evidence: Evidence,
    now: float,
    *,
    reference: np.ndarray | None = None,
    policy: LivenessPolicy = DEFAULT_POLICY,
) -> LivenessResult:
    """Re-run the whole check on recorded evidence: measurements, or (timestamp, RGB
    frame) pairs sampled by the kiosk (every frame gets an identity descriptor)."""
    session = LivenessSession(challenge, policy=policy, reference=reference)
    for item in evidence:
        m = item if isinstance(item, FrameMeasurement) else measure(item[1], item[0])
        session.feed(m)
        if session.state == "failed":
            break
    return session.result(now)
