"""The kiosk's only door to `biometrics/`: the quality gate and liveness action watching.

The kiosk only guides the person; the backend decides (face match and liveness are judged
there from the photo and the frames). Actions are watched with biometrics.liveness; one it
does not know is recorded for a fixed window and left to the backend to judge.
"""

from __future__ import annotations

import importlib
import time
from typing import Any, ClassVar, Protocol

import numpy as np

from kiosk_app.models import QualityVerdict


class FaceGate(Protocol):
    def assess(self, frame: np.ndarray) -> QualityVerdict: ...


class ActionWatcher(Protocol):
    def start(self, action: str, now: float) -> None: ...

    def feed(self, frame: np.ndarray, now: float) -> bool:
        """True once the current action has been seen (or recorded long enough)."""
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
    """Counts an action as done after `window_s` with at least `min_frames` frames; the
    backend judges the recorded frames."""

    def __init__(self, window_s: float = 2.5, min_frames: int = 5) -> None:
        self.window_s = window_s
        self.min_frames = min_frames
        self._started = 0.0
        self._frames = 0

    def start(self, action: str, now: float) -> None:
        self._started = now
        self._frames = 0

    def feed(self, frame: np.ndarray, now: float) -> bool:
        self._frames += 1
        return self._frames >= self.min_frames and now - self._started >= self.window_s


class BiometricsActionWatcher:
    """Watches one action at a time with biometrics.liveness.LivenessSession (landmarks:
    eye and mouth ratios, yaw), so the kiosk moves on when the person has really done it.
    Actions that module does not know fall back to a TimedActionWatcher. The backend still
    judges the frames (verify_evidence); this only paces the prompts."""

    def __init__(self, fallback: ActionWatcher | None = None) -> None:
        self._liveness: Any = importlib.import_module("biometrics.liveness")
        self._tracking: Any = importlib.import_module("biometrics.tracking")
        self._fallback = fallback or TimedActionWatcher()
        self._session: Any = None
        self._tracker: Any = None

    def start(self, action: str, now: float) -> None:
        lv = self._liveness
        self._session = None
        if action not in lv.ACTIONS:
            self._fallback.start(action, now)
            return
        wall = time.time()  # measure() stamps frames with wall-clock time
        challenge = lv.Challenge("kiosk-step", "local", (action,), wall - 1.0, wall + 3600.0)
        self._session = lv.LivenessSession(challenge)
        self._tracker = self._tracking.PreviewTracker()

    def feed(self, frame: np.ndarray, now: float) -> bool:
        if self._session is None:
            return self._fallback.feed(frame, now)
        m = self._liveness.measure(frame, identity=False, tracker=self._tracker)
        self._session.feed(m)
        return bool(self._session.per_action[0].done)


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
    """Sees each action after `frames_needed` frames."""

    def __init__(self, frames_needed: int = 6) -> None:
        self.frames_needed = frames_needed
        self._frames = 0

    def start(self, action: str, now: float) -> None:
        self._frames = 0

    def feed(self, frame: np.ndarray, now: float) -> bool:
        self._frames += 1
        return self._frames >= self.frames_needed


def open_face_gate(simulate: bool) -> FaceGate:
    return SimulatedFaceGate() if simulate else BiometricsFaceGate()


def open_action_watcher(simulate: bool) -> ActionWatcher:
    return SimulatedActionWatcher() if simulate else BiometricsActionWatcher()
