"""Devices of the kiosk end-to-end test: hardware/'s own simulators, a synthesized liveness
sequence, and gates that hold the kiosk at each busy moment until its screen is captured.

- card: `hardware.sscard.SimulatedSocialSecurityCardReader` with a card holding the
  resident's ID number and name, behind the kiosk's `HardwareCardSlot` (the same APDUs as a
  real card);
- camera: `hardware.camera.SimulatedCamera` replaying real photos (../shared/faces), behind
  the kiosk's `HardwareCamera`;
- printer: `hardware.printer.SimulatedPrinter` writing the ESC/POS job and a PNG preview of
  each receipt, behind the kiosk's `HardwarePrinter`;
- liveness: there is no video of a resident blinking or turning, so the per-frame numbers
  (eye and mouth ratios, yaw) are SYNTHESIZED from the challenge, while the frames the kiosk
  samples and sends are the real photos, from which the backend computes the identity
  descriptors itself. The kiosk's own `BiometricsActionWatcher` (and so a real
  `biometrics.liveness.LivenessSession`) follows the synthesized numbers.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kiosk_app.face import BiometricsActionWatcher

NEUTRAL = {"ear": 0.30, "mar": 0.10, "yaw": 0.0, "aspect": 1.0}
ACTION = {
    "blink": {"ear": 0.12},
    "turn_left": {"yaw": 22.0},
    "turn_right": {"yaw": -22.0},
    "open_mouth": {"mar": 0.40},
}
BASELINE = 3  # neutral frames before the first action
LEAD = 6  # neutral frames before each action (two of them are sampled as pictures)
TRAIL = 3  # neutral frames after the last action (back to facing the camera)


def synthesized_schedule(actions: Sequence[str]) -> list[dict[str, float]]:
    """The per-frame numbers of someone who does each action once, facing the camera
    between actions."""
    frames = [dict(NEUTRAL) for _ in range(BASELINE)]
    for action in actions:
        frames += [dict(NEUTRAL) for _ in range(LEAD)]
        frames.append({**NEUTRAL, **ACTION[action]})
    frames += [dict(NEUTRAL) for _ in range(TRAIL)]
    return frames


class _SynthesizedMeasure:
    """Stands in for `biometrics.liveness` inside the kiosk's watcher: the real module's
    Challenge, LivenessSession and ACTIONS, but `measure` gives the synthesized numbers."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.schedule: list[dict[str, float]] = []
        self.n = 0
        self.module = types.SimpleNamespace(
            ACTIONS=real.ACTIONS,
            Challenge=real.Challenge,
            LivenessSession=real.LivenessSession,
            measure=self.measure,
        )

    def begin(self, actions: Sequence[str]) -> None:
        self.schedule, self.n = synthesized_schedule(actions), 0

    def measure(self, frame: np.ndarray, timestamp: float, **_kw: Any) -> Any:
        from biometrics.detection import Box

        values = self.schedule[self.n] if self.n < len(self.schedule) else NEUTRAL
        self.n += 1
        h, w = frame.shape[:2]
        return self.real.FrameMeasurement(timestamp=timestamp, box=Box(0, 0, w, h), **values)


class SynthesizedActionWatcher(BiometricsActionWatcher):
    """The kiosk's watcher, fed synthesized per-frame numbers (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._synth = _SynthesizedMeasure(self._liveness)
        self._liveness = self._synth.module

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        self._synth.begin(actions)
        super().begin(actions, wall)


# ------------------------------------------------------------------ gates


class Gates:
    """Holds chosen device and backend calls until the test says go, so that each busy
    screen (reading the card, the first camera frame, submitting, printing) stays on screen
    long enough to be captured, however fast or slow the machine. `pending` is the name of
    the call waiting (None when none is); `release()` lets it through."""

    def __init__(self, limit_s: float = 60.0) -> None:
        self.limit_s = limit_s
        self._lock = threading.Lock()
        self._pending: str | None = None
        self._go = threading.Event()
        self.log: list[str] = []

    @property
    def pending(self) -> str | None:
        with self._lock:
            return self._pending

    def wait(self, name: str) -> None:
        with self._lock:
            self._pending = name
            self._go.clear()
        released = self._go.wait(self.limit_s)  # the guard: a stuck test does not hang for ever
        with self._lock:
            self._pending = None
        self.log.append(name if released else f"{name}:timeout")

    def release(self) -> None:
        self._go.set()

    def wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: Any, **kwargs: Any) -> Any:
            self.wait(name)
            return call(*args, **kwargs)

        return gated


class FirstFrameGate:
    """Wraps the face gate or the action watcher: the first frame after each camera start
    (or challenge) waits at the gate, so the live picture can be captured. (The controller
    calls the watcher holding its lock; the UI thread only needs that lock to stop the
    camera, which nothing does while the test is capturing.)"""

    def __init__(self, inner: Any, gates: Gates, name: str) -> None:
        self.inner, self.gates, self.name = inner, gates, name
        self._armed = True

    # face gate
    def reset(self) -> None:
        self._armed = True
        reset = getattr(self.inner, "reset", None)
        if reset is not None:
            reset()

    def assess(self, frame: np.ndarray) -> Any:
        self._hold()
        return self.inner.assess(frame)

    # action watcher
    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        self._armed = True
        self.inner.begin(actions, wall)

    def feed(self, frame: np.ndarray, wall: float) -> Any:
        self._hold()
        return self.inner.feed(frame, wall)

    def _hold(self) -> None:
        if self._armed:
            self._armed = False
            self.gates.wait(self.name)


# ------------------------------------------------------------------ hardware simulators


def ssc_fixture(id_number: str, name: str, card_number: str) -> Any:
    """A social security card (hardware's card model) holding this resident."""
    import json

    from hardware.ssc_applet import SscFixture
    from hardware.sscard import DEFAULT_FIXTURE

    values = json.loads(Path(DEFAULT_FIXTURE).read_text("utf-8"))
    birth = id_number[6:14]
    values.update(
        id_number=id_number,
        name=name,
        card_number=card_number,
        birth_date=f"{birth[:4]}-{birth[4:6]}-{birth[6:]}",
        birthplace=id_number[:6],
        sex="1" if int(id_number[16]) % 2 else "2",
    )
    return SscFixture.from_dict(values)


class PhotoCamera:
    """Opens hardware's SimulatedCamera on the photos the test chose for the person now in
    front of the kiosk (`photos` may change between visits)."""

    def __init__(self, fps: float = 8.0) -> None:
        self.fps = fps
        self.photos: list[Path] = []
        self.opened: list[list[str]] = []

    def open(self) -> Any:
        from hardware.camera import SimulatedCamera

        if not self.photos:
            raise RuntimeError("no photos in front of the camera")
        self.opened.append([p.name for p in self.photos])
        return SimulatedCamera(list(self.photos), fps=self.fps)
