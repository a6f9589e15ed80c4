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

import dataclasses
import itertools
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

from biometrics import geometry, pad
from biometrics.detection import Box
from biometrics.image import ensure_rgb
from biometrics.mesh import face_mesh
from biometrics.reasons import Reason, reason
from biometrics.templates import distance, encode
from biometrics.tracking import PreviewTracker, box_around

Action = Literal["blink", "turn_left", "turn_right", "open_mouth"]
ACTIONS: tuple[Action, ...] = ("blink", "turn_left", "turn_right", "open_mouth")
TURNS: tuple[Action, ...] = ("turn_left", "turn_right")

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
    """A random sequence of 2 or 3 different actions, at least one of them a head turn. Use
    the default (system) randomness in production; pass a seeded Random only in tests."""
    source = rng if rng is not None else secrets.SystemRandom()
    count = length if length is not None else source.choice((2, 3))
    if not 2 <= count <= len(ACTIONS):
        raise ValueError(f"a challenge has 2 to {len(ACTIONS)} actions, not {count}")
    issued = time.time() if now is None else now
    # every challenge holds a head turn: only a turn shows the face is not a flat picture
    # (blinks and mouths can be edited into a photo in 2-D; parallax cannot, see pad.py)
    turn: Action = source.choice(TURNS)
    others: list[Action] = source.sample([a for a in ACTIONS if a != turn], count - 1)
    actions: list[Action] = [turn, *others]
    source.shuffle(actions)
    return Challenge(
        challenge_id=str(uuid.UUID(int=source.getrandbits(128), version=4)),
        nonce=f"{source.getrandbits(128):032x}",
        actions=cast("tuple[Action, ...]", tuple(actions)),  # drawn from ACTIONS
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
    shape: np.ndarray | None = field(default=None, repr=False)  # normalised mesh (468, 2)
    points: np.ndarray | None = field(default=None, repr=False)  # mesh (468, 3) in pixels
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
    """Measure one RGB frame (MediaPipe face mesh). With a tracker (live preview) the
    face is followed from frame to frame."""
    stamp = time.time() if timestamp is None else timestamp
    frame = ensure_rgb(frame)
    if tracker is not None:
        tracked = tracker.process(frame, stamp)
        if tracked is None:
            return FrameMeasurement(stamp, None)
        box, points = tracked.box, tracked.landmarks
    else:
        mesh = face_mesh(frame)
        if mesh is None:
            return FrameMeasurement(stamp, None)
        points = mesh.points
        box = box_around(points)
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
        aspect=geometry.face_aspect(points),
        shape=geometry.normalised_shape(points),
        points=np.asarray(points, dtype=np.float64) if points.shape[-1] == 3 else None,
        descriptor=descriptor,
    )


def face_aspect(points: np.ndarray) -> float:
    return geometry.face_aspect(points)


@dataclass(frozen=True, slots=True)
class LivenessPolicy:
    action_timeout: float = 8.0  # seconds per action, including the return to neutral
    baseline_frames: int = 3  # neutral frames before the first prompt
    # calibrated on MediaPipe's mesh (docs/biometrics.md): its eye ratio falls less in a
    # blink than dlib's did (the mesh keeps some lid thickness: closed eyes measure 0.65-0.89
    # of open ones on the synthesized blinks), its yaw is on dlib's scale. A blink proves
    # little against a 2-D edit anyway: the head turn every challenge holds does (pad.py)
    blink_closed: float = 0.90  # EAR at most this share of the open-eye baseline
    blink_open: float = 0.92  # ... and back above this share
    steady_aspect: float = 0.08  # relative change of face proportions allowed in a blink
    turn_degrees: float = 12.0  # yaw away from the baseline that counts as a turn
    # a turn nobody asked for fails the check only when clearly deliberate: elderly people
    # glance around while they blink or open their mouth
    wrong_turn_degrees: float = 18.0
    # (tilting a flat photo moves it by ~5; people asked to turn go well beyond 20)
    neutral_degrees: float = 8.0
    calibrate_max_yaw: float = 20.0
    mouth_open: float = 0.12  # MAR above the baseline
    same_person_at: float = 0.60  # template distance between frames of one challenge
    identity_max_yaw: float = 12.0  # turned faces give unreliable templates: not compared
    max_face_lost: float = 2.0  # seconds without a face before failing
    # below this landmark spread the "face" never moved (shapes normalised over the mesh's
    # 468 points: dlib's 0.0025 over 68 points, times sqrt(68/468))
    static_spread: float = 0.00095
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


# ---- the server's check: measured on the frames themselves ---------------------------------


@dataclass(frozen=True, slots=True)
class SequencePolicy:
    """What the frames of one challenge must be for the server to judge them."""

    min_fps: float = 5.0  # across each action's window, and overall
    max_gap: float = 0.5  # seconds between consecutive frames, anywhere in the sequence
    min_frames: int = 12
    identity_every: int = 6  # a dlib template on every n-th comparable frame (plus key ones)
    max_identity_frames: int = 10  # the CPU bound: dlib templates per request


DEFAULT_SEQUENCE = SequencePolicy()


@dataclass(frozen=True)
class SequenceReport:
    """Figures the server measured on the frames (kept for telemetry and pad-evaluate)."""

    frames: int
    distinct: int
    faces: int
    fps: float
    planar_residual: float | None = None
    depth_explained: float | None = None
    screen_peak: float | None = None
    chroma: float | None = None
    texture: float | None = None
    identity_frames: int = 0


@dataclass(frozen=True)
class FramesVerdict:
    result: LivenessResult
    report: SequenceReport


@dataclass(frozen=True)
class FrameAnalysis:
    """Everything measured on the frames that does not depend on the challenge: the
    expensive part, which a server can compute before it opens a database transaction."""

    distinct: int
    measured: list[FrameMeasurement]  # timestamps 0: set by verify_frames
    refusal: str | None  # static_image or face_changed found on the pictures alone
    signals: dict[str, object]
    identity_frames: int


def analyse_frames(
    images: Sequence[np.ndarray],
    *,
    sequence: SequencePolicy = DEFAULT_SEQUENCE,
    pad_policy: pad.PadPolicy = pad.DEFAULT_PAD,
) -> FrameAnalysis:
    rgb = [ensure_rgb(f) for f in images]
    distinct = pad.distinct_frames(rgb, pad_policy)
    if distinct < max(3, pad_policy.min_distinct * len(rgb)):
        # one picture sent once or repeated: whatever the evidence claims, nothing moved
        return FrameAnalysis(distinct, [], "static_image", {"reasons": []}, 0)
    meshes = [face_mesh(image) for image in rgb]
    measured = [
        measure_points(m.points, box_around(m.points), 0.0)
        if m is not None
        else FrameMeasurement(0.0, None)
        for m in meshes
    ]
    refusal = _discontinuity(rgb, measured, pad_policy)
    if refusal is None and _all_planar(measured, pad_policy):
        refusal = "static_image"
    if refusal is not None:
        return FrameAnalysis(distinct, measured, refusal, {"reasons": []}, 0)
    chosen = _identity_frames(measured, sequence)
    measured = [
        dataclasses.replace(m, descriptor=encode(rgb[i], m.box)) if i in chosen else m
        for i, m in enumerate(measured)
    ]
    signals = _presentation_signals(rgb, measured, pad_policy)
    return FrameAnalysis(distinct, measured, None, signals, len(chosen))


def verify_frames(
    challenge: Challenge,
    frames: Sequence[tuple[float, np.ndarray]],
    now: float,
    *,
    reference: np.ndarray | None = None,
    policy: LivenessPolicy = DEFAULT_POLICY,
    sequence: SequencePolicy = DEFAULT_SEQUENCE,
    pad_policy: pad.PadPolicy = pad.DEFAULT_PAD,
    analysis: FrameAnalysis | None = None,
) -> FramesVerdict:
    """The liveness verdict measured on the frames alone: (timestamp, RGB frame) pairs,
    in capture order, timestamps as the (signed) evidence gives them. Nothing a device
    measured is used. See docs/certification.md ("What the server measures").
    `analysis`: analyse_frames of the same frames, when computed beforehand."""
    stamps = [t for t, _ in frames]
    if analysis is None:
        analysis = analyse_frames([f for _, f in frames], sequence=sequence, pad_policy=pad_policy)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    fps = round((len(stamps) - 1) / span, 2) if span > 0 else 0.0
    faces = sum(1 for m in analysis.measured if m.has_face)
    signals = {k: v for k, v in analysis.signals.items() if k != "reasons"}
    report = SequenceReport(
        len(frames),
        analysis.distinct,
        faces,
        fps,
        identity_frames=analysis.identity_frames,
        **signals,  # type: ignore[arg-type]
    )
    early = analysis.refusal
    if early is None or early != "static_image":
        early = _sequence_refusal(challenge, stamps, now, policy, sequence) or early
    if early is not None:
        return FramesVerdict(_refused(challenge, early), report)
    session = LivenessSession(challenge, policy=policy, reference=reference)
    for m, t in zip(analysis.measured, stamps, strict=True):
        session.feed(dataclasses.replace(m, timestamp=t))
        if session.state == "failed":
            break
    result = session.result(now)
    reasons = [r.code for r in result.reasons]
    if reasons == ["identity_unchecked"] and analysis.identity_frames >= 2:
        # here every frame is tied to the next by the continuity check, and templates
        # spread over the sequence matched the reference: no action went unchecked
        reasons = []
        result = LivenessResult(True, [], result.per_action)
    reasons += _action_rates(session, stamps, sequence)
    reasons += list(analysis.signals.get("reasons", []))  # type: ignore[call-overload]
    unique = list(dict.fromkeys(reasons))
    passed = result.passed and not unique
    return FramesVerdict(
        LivenessResult(passed, [reason(c) for c in unique], result.per_action), report
    )


def _refused(challenge: Challenge, code: str) -> LivenessResult:
    return LivenessResult(False, [reason(code)], [ActionResult(a) for a in challenge.actions])


def _sequence_refusal(
    challenge: Challenge,
    stamps: list[float],
    now: float,
    policy: LivenessPolicy,
    sequence: SequencePolicy,
) -> str | None:
    """Checks of the timestamps: increasing, inside the challenge, dense enough."""
    if not stamps:
        return "not_enough_frames"
    if any(not math.isfinite(t) for t in stamps) or any(
        b <= a for a, b in itertools.pairwise(stamps)
    ):
        return "bad_evidence"
    if stamps[0] < challenge.issued_at:
        return "challenge_not_started"
    if stamps[-1] > challenge.expires_at or now > challenge.expires_at + policy.grace:
        return "challenge_expired"
    if len(stamps) < sequence.min_frames:
        return "not_enough_frames"
    if max(b - a for a, b in itertools.pairwise(stamps)) > sequence.max_gap:
        return "not_enough_frames"
    return None


def _discontinuity(
    images: list[np.ndarray], measured: list[FrameMeasurement], policy: pad.PadPolicy
) -> str | None:
    """A cut between consecutive face frames: the face jumps, changes size, or its aligned
    appearance stops correlating (another face or another clip)."""
    previous: tuple[FrameMeasurement, np.ndarray] | None = None
    for image, m in zip(images, measured, strict=True):
        if m.box is None or m.points is None:
            previous = None
            continue
        crop = pad.aligned_face(image, m.points)
        if previous is not None:
            before, before_crop = previous
            assert before.box is not None
            width = max(before.box.width, 1)
            jump = math.dist(before.box.centre, m.box.centre) / width
            scale = abs(m.box.width / width - 1)
            if (
                jump > policy.max_jump
                or scale > policy.max_scale_jump
                or pad.correlation(before_crop, crop) < policy.min_continuity
            ):
                return "face_changed"
        previous = (m, crop)
    return None


def _all_planar(measured: list[FrameMeasurement], policy: pad.PadPolicy) -> bool:
    """True when every face frame is a projective image of the first one (a photo held,
    moved or tilted) and the eyes and mouth never changed: nothing about it is live."""
    faces = [m for m in measured if m.points is not None]
    if len(faces) < 2:
        return True
    first = faces[0].points
    assert first is not None
    residual = max(pad.planar_residual(first, m.points) for m in faces[1:])  # type: ignore[arg-type]
    ears = [m.ear for m in faces]
    mars = [m.mar for m in faces]
    still_parts = (max(ears) - min(ears)) < policy.static_ear_range and (
        max(mars) - min(mars)
    ) < policy.static_ear_range
    return residual < policy.static_residual and still_parts


def _identity_frames(measured: list[FrameMeasurement], sequence: SequencePolicy) -> set[int]:
    """Which frames get a dlib template: the first frontal face frame, then every n-th
    frontal frame, at most max_identity_frames (the CPU bound). Frames in between are
    tied to these by the continuity check."""
    frontal = [
        i
        for i, m in enumerate(measured)
        if m.has_face and abs(m.yaw) <= DEFAULT_POLICY.calibrate_max_yaw
    ]
    if not frontal:
        return set()
    chosen = frontal[:: sequence.identity_every]
    if frontal[-1] not in chosen:
        chosen.append(frontal[-1])
    if len(chosen) > sequence.max_identity_frames:
        step = len(chosen) / sequence.max_identity_frames
        chosen = [chosen[round(k * step)] for k in range(sequence.max_identity_frames - 1)]
        chosen.append(frontal[-1])
    return set(chosen)


def _action_rates(
    session: LivenessSession, stamps: list[float], sequence: SequencePolicy
) -> list[str]:
    """At least min_fps frames per second inside each action's window."""
    for action in session.per_action:
        if action.started_at is None or action.completed_at is None:
            continue
        span = action.completed_at - action.started_at
        inside = sum(1 for t in stamps if action.started_at <= t <= action.completed_at)
        if span > 0 and (inside - 1) / span < sequence.min_fps:
            return ["not_enough_frames"]
    return []


def _presentation_signals(
    images: list[np.ndarray], measured: list[FrameMeasurement], policy: pad.PadPolicy
) -> dict[str, object]:
    """Flat surface and 2-D warp (at the head turns), screen replay and print (on the
    baseline frame). Each failing signal is a reason code."""
    reasons: list[str] = []
    out: dict[str, object] = {"reasons": reasons}
    faces = [i for i, m in enumerate(measured) if m.points is not None]
    if not faces:
        return out
    base_i = faces[0]
    base = measured[base_i]
    assert base.points is not None
    turned = [i for i in faces if abs(measured[i].yaw - base.yaw) >= policy.turn_window[0]]
    if turned:
        residual = max(pad.planar_residual(base.points, measured[i].points) for i in turned)  # type: ignore[arg-type]
        out["planar_residual"] = round(residual, 4)
        if residual < policy.flat_residual:
            reasons.append("flat_surface")
        window = [
            i for i in turned if abs(measured[i].yaw - base.yaw) <= policy.turn_window[1]
        ] or turned[:2]
        # the two frames nearest the window's middle: the flow is most reliable there
        middle = sum(policy.turn_window) / 2
        window = sorted(window, key=lambda i: abs(abs(measured[i].yaw - base.yaw) - middle))[:3]
        explained = max(pad.depth_explained(images[base_i], base.points, images[i]) for i in window)
        out["depth_explained"] = round(explained, 3)
        if explained < policy.depth_explained:
            reasons.append("warped_motion")
    peak = pad.screen_peak(images[base_i], base.points)
    chroma, texture = pad.print_signals(images[base_i], base.points)
    out.update(screen_peak=round(peak, 1), chroma=round(chroma, 2), texture=round(texture, 2))
    if peak > policy.screen_peak:
        reasons.append("screen_replay")
    if chroma < policy.print_chroma and texture < policy.print_texture:
        reasons.append("print_attack")
    return out
