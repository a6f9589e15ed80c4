"""What the field visit needs from the device (face engine, camera analysis, GPS), as
protocols and plain values. flow.py uses them and devices.py implements them; both import
this module and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# the liveness actions' spoken/shown prompts (zh, en): the flow prompts with them, the
# simulated and real devices perform and watch for them
ACTION_PROMPTS: dict[str, tuple[str, str]] = {
    "blink": ("请眨眨眼", "Please blink"),
    "turn_left": ("请向左转头", "Please turn your head to your left"),
    "turn_right": ("请向右转头", "Please turn your head to your right"),
    "open_mouth": ("请张张嘴", "Please open your mouth"),
}


def action_prompt(action: str) -> tuple[str, str]:
    return ACTION_PROMPTS.get(action, (action, action))


@dataclass(frozen=True)
class Quality:
    ok: bool
    face_found: bool
    zh: str = ""
    en: str = ""


class FaceGate(Protocol):
    def assess(self, frame: np.ndarray) -> Quality: ...


class ActionWatcher(Protocol):
    def begin(self, actions: tuple[str, ...], wall: float) -> None: ...

    def feed(self, frame: np.ndarray, wall: float) -> tuple[int, dict[str, Any] | None]: ...


class Matcher(Protocol):
    def distance(self, template_b64: str, image: np.ndarray) -> float | None: ...


@dataclass(frozen=True)
class Fix:
    latitude: float
    longitude: float
    accuracy_m: float


class Locator(Protocol):
    def fix(self) -> Fix | None: ...


@dataclass
class Devices:
    gate: FaceGate
    watcher: ActionWatcher
    matcher: Matcher
    locator: Locator
    encode: Callable[[np.ndarray], bytes]  # RGB frame -> JPEG
