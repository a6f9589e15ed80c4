"""The field app's doors to the face engine, the camera, the ID card reader and the GPS.

Real ones: biometrics (quality gate, liveness watching, a local template distance for the
preliminary result), hardware.camera / hardware.idcard, plyer's GPS on Android. Simulated
ones for `--simulate`, demos and tests. Heavy modules are imported lazily so the flow and
the tests of the outbox never load dlib.
"""

from __future__ import annotations

import base64
import importlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from client import clock
from field_app.ports import ACTION_PROMPTS, Devices, Fix, Quality

__all__ = ["ACTION_PROMPTS"]  # kept here too for older callers


# --- face ----------------------------------------------------------------------------------


class BiometricsGate:
    """biometrics.quality.assess(image, purpose="verify"): the first reason is the prompt."""

    def __init__(self) -> None:
        self._quality: Any = importlib.import_module("biometrics.quality")

    def assess(self, frame: np.ndarray) -> Quality:
        report = self._quality.assess(frame, purpose="verify")
        first = report.reasons[0] if report.reasons else None
        return Quality(
            bool(report.ok),
            report.box is not None,
            getattr(first, "zh", ""),
            getattr(first, "en", ""),
        )


class BiometricsWatcher:
    """One biometrics.liveness.LivenessSession over the challenge, fed the camera's frames:
    the app moves on when each action is really seen, and keeps each frame's measurements
    (eye and mouth ratios, yaw, landmarks) for the backend to re-check."""

    def __init__(self) -> None:
        self._lv: Any = importlib.import_module("biometrics.liveness")
        self._tracking: Any = importlib.import_module("biometrics.tracking")
        self._session: Any = None
        self._tracker: Any = None

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        challenge = self._lv.Challenge("field", "local", tuple(actions), wall - 1.0, wall + 3600.0)
        self._session = self._lv.LivenessSession(challenge)
        self._tracker = self._tracking.PreviewTracker()

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, Any] | None]:
        m = self._lv.measure(frame, wall, identity=False, tracker=self._tracker)
        self._session.feed(m)
        item: dict[str, Any] = {"t": round(m.timestamp, 3), "face": m.has_face}
        if m.has_face:
            item.update(ear=m.ear, mar=m.mar, yaw=m.yaw, aspect=m.aspect)
            if m.shape is not None:
                item["shape"] = np.round(np.asarray(m.shape), 5).tolist()
        return sum(1 for a in self._session.per_action if a.done), item


class SimulatedWatcher:
    """SIMULATION ONLY (`--simulate`, demos, tests). With a `SequenceCamera` attached (its
    `playback`), the camera plays the photo's face really doing the challenge's actions and
    this reports each action done once its part of the playback has been fed, and each
    played frame's capture time. Without one (a still photo cannot blink), it reports the
    measurements a camera would take of a person doing each action (the same numbers the
    backend's certification tests synthesize). Never used with a real camera."""

    NEUTRAL: ClassVar[dict[str, float]] = {"ear": 0.30, "mar": 0.10, "yaw": 0.0, "aspect": 1.0}
    ACTION: ClassVar[dict[str, dict[str, float]]] = {
        "blink": {"ear": 0.12},
        "turn_left": {"yaw": 22.0},
        "turn_right": {"yaw": -22.0},
        "open_mouth": {"mar": 0.40},
    }

    def __init__(self) -> None:
        self._script: list[tuple[int, dict[str, float]]] = []
        self._n = 0
        self.playback: SequenceCamera | None = None

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        if self.playback is not None:
            self.playback.play(actions)
            return
        # 3 neutral frames, then per action: the action, and two frames back to neutral (the
        # first of them completes it, as a LivenessSession would see it)
        self._script = [(0, {})] * 3
        for i, action in enumerate(actions):
            self._script += [(i, self.ACTION.get(action, {})), (i + 1, {}), (i + 1, {})]
        self._n = 0

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, Any] | None]:
        if self.playback is not None:
            return self.playback.seen(frame)
        done, values = self._script[min(self._n, len(self._script) - 1)]
        self._n += 1
        return done, {"t": round(wall, 3), "face": True, **self.NEUTRAL, **values}


class SequenceCamera:
    """SIMULATION ONLY: a camera in front of a photo's face. It shows the still photo until
    the liveness step starts; then it plays the face doing the challenge's actions in 3-D
    (biometrics.sequences.genuine_sequence: frames the server's liveness check accepts).

    Frames are captured on the camera's schedule, `fps` a second from the start of the
    playback on the app's clock (client/clock.py), and each is published only once the
    watcher has fed the previous one: a slow machine slows the playback down, it never
    drops a frame or bunches the capture times, so nothing depends on timing."""

    def __init__(
        self,
        photo: str | Path | np.ndarray,
        watcher: SimulatedWatcher,
        *,
        fps: float = 6.0,
        size: tuple[int, int] = (320, 240),
        tick_s: float = 0.05,
    ) -> None:
        import cv2

        if isinstance(photo, np.ndarray):  # RGB already
            self.still = np.ascontiguousarray(photo)
        else:
            still = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if still is None:
                raise ValueError(f"cannot read the photo {photo}")
            self.still = np.ascontiguousarray(cv2.cvtColor(still, cv2.COLOR_BGR2RGB))
        self.fps, self.size, self.tick_s = fps, size, tick_s
        self._frames: list[tuple[float, np.ndarray]] = []
        self._ends: list[int] = []  # per action: the playback index after its last frame
        self._shown = -1  # the last playback frame published
        self._fed = -1  # the last playback frame the watcher was fed
        self._started = 0.0  # time.monotonic() at the start of the playback
        self._latest: Any = None
        self._count = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watcher = watcher
        watcher.playback = self
        self._publish(self.still)
        self._thread = threading.Thread(target=self._run, name="sequence camera", daemon=True)
        self._thread.start()

    def play(self, actions: tuple[str, ...]) -> None:
        """Render the face doing `actions` and start playing it (the watcher's begin)."""
        from biometrics import sequences

        photo = sequences.camera_frame(self.still, size=self.size)
        rendered = sequences.genuine_sequence(photo, actions, start=0.0, fps=self.fps)
        ends, at = [], len(sequences.timeline((), self.fps))
        for action in actions:
            at += len(sequences.action_poses(action, self.fps))
            ends.append(at)
        start = clock.timestamp()
        with self._lock:
            self._frames = [(start + t, image) for t, image in rendered]
            self._ends, self._shown, self._fed = ends, -1, -1
            self._started = time.monotonic()

    def seen(self, image: np.ndarray) -> tuple[int, dict[str, Any] | None]:
        """The watcher fed `image`: the actions done so far, and the frame's evidence item
        (None for the still photo and for a frame fed again)."""
        with self._lock:
            index = next((i for i, (_, f) in enumerate(self._frames) if f is image), -1)
            fresh = index > self._fed
            self._fed = max(self._fed, index)
            done = sum(1 for end in self._ends if end <= self._fed + 1)
            if not fresh:
                return done, None
            return done, {"t": round(self._frames[index][0], 3), "face": True}

    def _next(self) -> np.ndarray | None:
        """The next playback frame when it is due and the last one was fed."""
        with self._lock:
            following = self._shown + 1
            if (
                following >= len(self._frames)
                or self._fed < self._shown
                or time.monotonic() < self._started + following / self.fps
            ):
                return None
            self._shown = following
            return self._frames[following][1]

    def _current(self) -> np.ndarray:
        with self._lock:
            return self._frames[self._shown][1] if self._shown >= 0 else self.still

    def _publish(self, image: np.ndarray) -> None:
        from hardware.camera import Frame

        self._latest = Frame(image, clock.timestamp(), self._count)
        self._count += 1

    def _run(self) -> None:
        # the current picture is re-published every tick (a live preview); the watcher
        # ignores a frame it has already seen
        while not self._stopped.wait(self.tick_s):
            following = self._next()
            self._publish(following if following is not None else self._current())

    def latest(self) -> Any:
        return self._latest

    def close(self) -> None:
        self._stopped.set()
        if self._watcher.playback is self:
            self._watcher.playback = None
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)


class BiometricsMatcher:
    """The distance between the live photo and the enrolled template from the work list:
    for the preliminary result only (the backend recomputes both and decides)."""

    def distance(self, template_b64: str, image: np.ndarray) -> float | None:
        if not template_b64:
            return None
        templates: Any = importlib.import_module("biometrics.templates")
        quality: Any = importlib.import_module("biometrics.quality")
        report = quality.assess(image, purpose="verify")
        if report.box is None:
            return None
        probe = templates.encode(image, report.box)
        return round(
            float(templates.distance(templates.from_bytes(base64.b64decode(template_b64)), probe)),
            4,
        )


class AlwaysGoodGate:
    """SIMULATION: every frame is a good one."""

    def assess(self, frame: np.ndarray) -> Quality:
        return Quality(True, True)


def encode_jpeg(frame: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:
        raise ValueError("cannot encode the frame as JPEG")
    return buf.tobytes()


# --- location ------------------------------------------------------------------------------


@dataclass
class FixedLocator:
    """A configured position (a tablet without GPS) or the simulated one."""

    position: Fix | None

    def fix(self) -> Fix | None:
        return self.position


class PlyerLocator:
    """Android's location service through plyer: the newest fix, with its accuracy."""

    def __init__(self) -> None:
        from plyer import gps

        self._latest: Fix | None = None
        self._lock = threading.Lock()
        gps.configure(on_location=self._on_location)
        gps.start(minTime=1000, minDistance=0)

    def _on_location(self, **kw: Any) -> None:
        with self._lock:
            self._latest = Fix(
                float(kw["lat"]), float(kw["lon"]), float(kw.get("accuracy", 9999.0))
            )

    def fix(self) -> Fix | None:
        with self._lock:
            return self._latest


def open_locator(simulate: bool, position: Fix | None) -> Any:
    if simulate or position is not None:
        return FixedLocator(position or Fix(30.657, 104.066, 8.0))
    try:
        return PlyerLocator()
    except (ImportError, NotImplementedError, ModuleNotFoundError):
        return FixedLocator(None)  # no GPS here: visits carry no location, the backend is told so


def build_devices(simulate: bool, position: Fix | None = None) -> Devices:
    if simulate:
        return Devices(
            BiometricsGate(),
            SimulatedWatcher(),
            BiometricsMatcher(),
            open_locator(True, position),
            encode_jpeg,
        )
    return Devices(
        BiometricsGate(),
        BiometricsWatcher(),
        BiometricsMatcher(),
        open_locator(False, position),
        encode_jpeg,
    )
