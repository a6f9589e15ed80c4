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
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from field_app.flow import Devices, Fix, Quality

ACTION_PROMPTS: dict[str, tuple[str, str]] = {
    "blink": ("请眨眨眼", "Please blink"),
    "turn_left": ("请向左转头", "Please turn your head to your left"),
    "turn_right": ("请向右转头", "Please turn your head to your right"),
    "open_mouth": ("请张张嘴", "Please open your mouth"),
}


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
    """SIMULATION ONLY (`--simulate`, demos, tests): a still photo cannot blink, so this
    reports the measurements a camera would take of a person doing each action (the same
    numbers the backend's certification tests synthesize). Never used with a real camera."""

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

    def begin(self, actions: tuple[str, ...], wall: float) -> None:
        # 3 neutral frames, then per action: the action, and two frames back to neutral (the
        # first of them completes it, as a LivenessSession would see it)
        self._script = [(0, {})] * 3
        for i, action in enumerate(actions):
            self._script += [(i, self.ACTION.get(action, {})), (i + 1, {}), (i + 1, {})]
        self._n = 0

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, Any] | None]:
        done, values = self._script[min(self._n, len(self._script) - 1)]
        self._n += 1
        return done, {"t": round(wall, 3), "face": True, **self.NEUTRAL, **values}


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
