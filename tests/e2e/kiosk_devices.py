"""Devices of the kiosk end-to-end test: hardware/'s own simulators, a person doing the
challenge in front of a simulated camera, and gates that hold the kiosk at each busy moment
until its screen is captured.

- card: `hardware.sscard.SimulatedSocialSecurityCardReader` with a card holding the
  resident's ID number and name, behind the kiosk's `HardwareCardSlot` (the same APDUs as a
  real card);
- camera: the kiosk's `ChallengeCamera` showing real photos (../shared/faces) until the
  liveness check starts, then a GENUINE-LOOKING SEQUENCE of the first photo's face doing the
  challenge's actions, rendered in 3-D by `biometrics.sequences` (there is no video of a
  resident blinking or turning), which the backend measures as it would a real camera's;
  the kiosk's `PlaybackActionWatcher` sees each action done when its frames have been shown;
- printer: `hardware.printer.SimulatedPrinter` writing the ESC/POS job and a PNG preview of
  each receipt, behind the kiosk's `HardwarePrinter`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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
        if self._hold():
            # the held frame is stale when the test lets it go, and the backend refuses a
            # gap over 0.5 s between liveness frames: it is not evidence (no measurement,
            # so the kiosk does not send it); the playback goes on with the next frame
            return 0, None
        return self.inner.feed(frame, wall)

    def _hold(self) -> bool:
        if self._armed:
            self._armed = False
            self.gates.wait(self.name)
            return True
        return False


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


def load_photos(paths: list[Path]) -> list[np.ndarray]:
    """The photos as a camera gives them (RGB)."""
    import cv2

    photos = []
    for path in paths:
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise RuntimeError(f"cannot read {path}")
        photos.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return photos
