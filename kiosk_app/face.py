"""The kiosk's only door to `biometrics/`: the quality gate and liveness action watching.

The kiosk only guides the person; the backend decides (face match and liveness are judged
there from the photo and the frames). Actions are watched with biometrics.liveness; one it
does not know is recorded for a fixed window and left to the backend to judge.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Protocol

import numpy as np

from kiosk_app.models import QualityVerdict


class FaceGate(Protocol):
    def assess(self, frame: np.ndarray) -> QualityVerdict: ...


class ActionWatcher(Protocol):
    """Follows the person through a challenge's actions, one frame at a time, and measures
    each frame for the liveness evidence the backend re-checks."""

    def begin(self, actions: tuple[str, ...], wall: float) -> None: ...

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, object] | None]:
        """(how many actions are done so far, this frame's measurement or None)."""
        ...


class BiometricsFaceGate:
    """biometrics.quality.assess(image, purpose="verify") as a QualityVerdict."""

    def __init__(self) -> None:
        self._quality: Any = importlib.import_module("biometrics.quality")

    def assess(self, frame: np.ndarray) -> QualityVerdict:
        report = self._quality.assess(frame, purpose="verify")
        first = report.reasons[0] if report.reasons else None
        return QualityVerdict(
            ok=bool(report.ok),
            face_found=report.box is not None,
            reason=getattr(first, "code", None),
            prompt_zh=getattr(first, "zh", None),
            prompt_en=getattr(first, "en", None),
        )


class TimedActionWatcher:
    """Counts each action as done after `window_s` with at least `min_frames` frames; the
    backend judges the recorded frames. For actions no detector knows."""

    def __init__(self, window_s: float = 2.5, min_frames: int = 5) -> None:
        self.window_s = window_s
        self.min_frames = min_frames
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._frames = 0

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        self._total, self._done, self._started, self._frames = len(actions), 0, wall, 0

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, object] | None]:
        self._frames += 1
        if (
            self._done < self._total
            and self._frames >= self.min_frames
            and wall - self._started >= self.window_s
        ):
            self._done += 1
            self._started, self._frames = wall, 0
        return self._done, {"t": wall, "face": True}


class BiometricsActionWatcher:
    """One biometrics.liveness.LivenessSession over the whole challenge, as the backend
    runs it: the kiosk moves on when the person has really done each action, and sends
    the same per-frame measurements (eye and mouth ratios, yaw, landmarks) for the backend
    to re-check. Challenges with an action that module does not know fall back to a
    TimedActionWatcher (the backend then decides from the frames)."""

    def __init__(self, fallback: ActionWatcher | None = None) -> None:
        self._liveness: Any = importlib.import_module("biometrics.liveness")
        self._tracking: Any = importlib.import_module("biometrics.tracking")
        self._fallback = fallback or TimedActionWatcher()
        self._session: Any = None
        self._tracker: Any = None

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        lv = self._liveness
        self._session = None
        if not actions or any(a not in lv.ACTIONS for a in actions):
            self._fallback.begin(actions, wall)
            return
        challenge = lv.Challenge("kiosk", "local", tuple(actions), wall - 1.0, wall + 3600.0)
        self._session = lv.LivenessSession(challenge)
        self._tracker = self._tracking.PreviewTracker()

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, object] | None]:
        if self._session is None:
            return self._fallback.feed(frame, wall)
        m = self._liveness.measure(frame, wall, identity=False, tracker=self._tracker)
        self._session.feed(m)
        done = sum(1 for a in self._session.per_action if a.done)
        if self._session.state == "neutral":
            # seen, but the person is still turned (or the mouth open): the action counts
            # once they face the camera again. The backend's check ends there too, so the
            # last action must not stop the camera (and submit the evidence) before it.
            done -= 1
        item: dict[str, object] = {"t": m.timestamp, "face": m.has_face}
        if m.has_face:
            item.update(ear=m.ear, mar=m.mar, yaw=m.yaw, aspect=m.aspect)
            if m.shape is not None:
                item["shape"] = np.round(np.asarray(m.shape), 5).tolist()
        return done, item


class SimulatedFaceGate:
    """Scripted verdicts for demos and tests: the reasons in `script`, one per frame (None
    is a good frame), then good frames for ever."""

    TEXT: ClassVar[dict[str, tuple[str, str]]] = {
        "no_face": ("没有检测到人脸，请正对摄像头", "No face found"),
        "too_small": ("请靠近一点", "Please come closer"),
        "too_dark": ("光线太暗", "Too dark"),
    }

    def __init__(self, script: tuple[str | None, ...] = ("no_face", "too_small", "too_small")):
        self.script = list(script)
        self._n = 0

    def reset(self) -> None:
        self._n = 0

    def assess(self, frame: np.ndarray) -> QualityVerdict:
        reason = self.script[self._n] if self._n < len(self.script) else None
        self._n += 1
        if reason is None:
            return QualityVerdict(ok=True, face_found=True)
        zh, en = self.TEXT.get(reason, (reason, reason))
        return QualityVerdict(False, reason != "no_face", reason, zh, en)


class SimulatedActionWatcher:
    """Sees each action after `frames_needed` frames; measurements of a steady face."""

    def __init__(self, frames_needed: int = 6) -> None:
        self.frames_needed = frames_needed
        self._total = 0
        self._frames = 0

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        self._total, self._frames = len(actions), 0

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, object] | None]:
        self._frames += 1
        done = min(self._total, self._frames // self.frames_needed)
        return done, {"t": wall, "face": True, "ear": 0.3, "mar": 0.1, "yaw": 0.0, "aspect": 0.6}


class Playback(Protocol):
    def play(self, actions: tuple[str, ...], start: float) -> None: ...

    def actions_shown(self) -> int: ...


class PlaybackActionWatcher:
    """For a simulated camera that plays a person doing the challenge (devices.ChallengeCamera):
    starts the playback when the challenge starts, and sees each action done once the
    frames of its part of the playback have been shown (tied to the playback, not to the
    time). The backend measures liveness on the frames; the items here are hints only."""

    def __init__(self, playback: Playback) -> None:
        self.playback = playback

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        self.playback.play(actions, wall)  # its first frame is captured now

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, object] | None]:
        return self.playback.actions_shown(), {"t": wall, "face": True}


def open_face_gate(simulate: bool) -> FaceGate:
    return SimulatedFaceGate() if simulate else BiometricsFaceGate()


def open_action_watcher(simulate: bool) -> ActionWatcher:
    return SimulatedActionWatcher() if simulate else BiometricsActionWatcher()
