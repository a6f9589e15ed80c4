"""The kiosk's only door to `biometrics/`: the quality gate and liveness action watching.

The kiosk only guides the person; the backend decides (face match and liveness are judged
there from the photo and the frames). So when no local action detector is available, the
kiosk records each action for a fixed window and lets the backend judge.
"""

from __future__ import annotations

import importlib
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
    return SimulatedActionWatcher() if simulate else TimedActionWatcher()
