"""The field app's doors to the face engine, with real photos: the quality gate, the
preliminary distance, and liveness watching that a still photo cannot satisfy."""

from __future__ import annotations

import base64

import numpy as np

from field_app.devices import (
    BiometricsGate,
    BiometricsMatcher,
    BiometricsWatcher,
    FixedLocator,
    SimulatedWatcher,
    open_locator,
)
from field_app.flow import Fix
from tests.backend.cert_helpers import ENROL_A, OTHER, SAME_A
from tests.field.test_sync import rgb


def template_of(name: str) -> str:
    from biometrics import templates

    result = templates.enrol([rgb(name)])
    assert result.ok and result.template is not None
    return base64.b64encode(templates.to_bytes(result.template)).decode()


def test_the_gate_passes_a_good_photo_and_guides_in_chinese_otherwise() -> None:
    gate = BiometricsGate()
    assert gate.assess(rgb(SAME_A)).ok
    dark = gate.assess(np.zeros((480, 640, 3), np.uint8))
    assert not dark.ok and not dark.face_found and dark.zh and dark.en


def test_the_preliminary_distance_tells_the_same_person_from_another() -> None:
    matcher, enrolled = BiometricsMatcher(), template_of(ENROL_A)
    same, other = matcher.distance(enrolled, rgb(SAME_A)), matcher.distance(enrolled, rgb(OTHER))
    assert same is not None and other is not None and same <= 0.50 < 0.60 < other
    assert matcher.distance("", rgb(SAME_A)) is None
    assert matcher.distance(enrolled, np.zeros((200, 200, 3), np.uint8)) is None


def test_a_still_photo_never_completes_an_action_but_is_measured() -> None:
    watcher, photo = BiometricsWatcher(), rgb(SAME_A)
    watcher.begin(("blink", "open_mouth"), 1000.0)
    results = [watcher.feed(photo, 1000.0 + 0.1 * i) for i in range(12)]
    assert all(done == 0 for done, _ in results)
    item = results[-1][1]
    assert (
        item is not None
        and item["face"] is True
        and len(item["shape"]) == 68
        and 0 < item["ear"] < 1
    )


def test_the_simulated_watcher_completes_each_action_in_turn() -> None:
    w = SimulatedWatcher()
    w.begin(("turn_left", "blink"), 0.0)
    out = [w.feed(np.zeros((2, 2, 3), np.uint8), 0.1 * i) for i in range(10)]
    assert [d for d, _ in out] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    turning, blinking = out[3][1], out[6][1]
    assert turning is not None and blinking is not None
    assert turning["yaw"] == 22.0 and blinking["ear"] == 0.12


def test_locations() -> None:
    assert open_locator(True, None).fix() == Fix(30.657, 104.066, 8.0)
    assert FixedLocator(None).fix() is None
    assert open_locator(False, Fix(1.0, 2.0, 3.0)).fix() == Fix(1.0, 2.0, 3.0)
    assert open_locator(False, None).fix() is None  # no GPS on this machine: no made-up position
