"""1:1 matching at the default thresholds, enrolment and template serialisation."""

from __future__ import annotations

import itertools

import faces_synth as synth
import numpy as np
import pytest
from conftest import FRONTAL, photo, points, template

from biometrics.errors import NoFaceError, TemplateError
from biometrics.templates import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    decide,
    distance,
    encode,
    enrol,
    from_bytes,
    to_bytes,
)

# Frontal, well-lit photos of three people, two or more each.
PEOPLE = {
    "powell": [
        "lfw/Colin_Powell/Colin_Powell_0005.jpg",
        "lfw/Colin_Powell/Colin_Powell_0007.jpg",
        "lfw/Colin_Powell/Colin_Powell_0010.jpg",
    ],
    "bush": [
        "lfw/George_W_Bush/George_W_Bush_0002.jpg",
        "lfw/George_W_Bush/George_W_Bush_0007.jpg",
    ],
    "obama": [FRONTAL, "face_recognition/examples/knn_examples/test/obama1.jpg"],
    "df_id07": ["deepface/tests/unit/dataset/img20.jpg", "deepface/tests/unit/dataset/img21.jpg"],
}


def same_person_pairs() -> list[tuple[str, str]]:
    return [pair for photos in PEOPLE.values() for pair in itertools.combinations(photos, 2)]


def different_person_pairs() -> list[tuple[str, str]]:
    firsts = [photos[0] for photos in PEOPLE.values()]
    return list(itertools.combinations(firsts, 2))


def test_template_is_128_float32() -> None:
    t = template(FRONTAL)
    assert t.shape == (128,) and t.dtype == np.float32
    assert 0.5 < float(np.linalg.norm(t)) < 1.5


@pytest.mark.parametrize(("a", "b"), same_person_pairs())
def test_same_person_passes_at_default_thresholds(a: str, b: str) -> None:
    result = decide(distance(template(a), template(b)))
    assert result.outcome == "passed", result.distance
    assert result.reasons[0].code == "match"


@pytest.mark.parametrize(("a", "b"), different_person_pairs())
def test_different_people_fail_at_default_thresholds(a: str, b: str) -> None:
    result = decide(distance(template(a), template(b)))
    assert result.outcome == "failed", result.distance
    assert result.reasons[0].code == "no_match"


def test_decide_boundaries_are_inclusive() -> None:
    t = Thresholds(pass_at=0.5, refer_at=0.6)
    assert decide(0.5, t).outcome == "passed"
    assert decide(0.5000001, t).outcome == "referred"
    assert decide(0.6, t).outcome == "referred"
    assert decide(0.6000001, t).outcome == "failed"
    assert decide(0.55, t).reasons[0].zh == "比对不确定，转人工复核"


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError):
        Thresholds(pass_at=0.6, refer_at=0.5)
    assert DEFAULT_THRESHOLDS.pass_at <= DEFAULT_THRESHOLDS.refer_at


def test_encode_without_a_face_raises() -> None:
    blank = np.full((300, 300, 3), 120, dtype=np.uint8)
    with pytest.raises(NoFaceError):
        encode(blank)


def test_id_card_photo_enrols_and_matches_a_camera_frame() -> None:
    card = synth.id_card_photo(photo(FRONTAL), points(FRONTAL))
    result = enrol([card])
    assert result.ok, [r.en for r in result.reasons]
    assert result.template is not None
    live = template("face_recognition/examples/knn_examples/test/obama1.jpg")
    assert decide(distance(result.template, live)).outcome == "passed"


def test_enrol_from_several_photos_averages_them() -> None:
    photos = [photo(p) for p in PEOPLE["powell"][:2]]
    result = enrol(photos, num_jitters=0)
    assert result.ok and result.used == [0, 1]
    expected = np.mean([template(p) for p in PEOPLE["powell"][:2]], axis=0)
    assert result.template is not None and distance(result.template, expected) < 0.05


def test_enrol_refuses_photos_of_different_people() -> None:
    result = enrol([photo(PEOPLE["powell"][0]), photo(PEOPLE["bush"][0])], num_jitters=0)
    assert not result.ok and result.template is None
    assert [r.code for r in result.reasons] == ["photos_disagree"]


def test_enrol_explains_a_refusal() -> None:
    blurred = synth.framed(photo(FRONTAL), points(FRONTAL), face_px=200)
    import cv2

    blurred = cv2.GaussianBlur(blurred, (0, 0), 4)
    result = enrol([blurred])
    assert not result.ok
    assert [r.code for r in result.reasons] == ["no_usable_photo", "blurred"]
    assert result.reports[0].reasons[0].code == "blurred"


def test_template_round_trips_through_bytes() -> None:
    t = template(FRONTAL)
    data = to_bytes(t)
    assert isinstance(data, bytes) and len(data) == 8 + 128 * 4 + 4
    assert np.array_equal(from_bytes(data), t)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-1], "bytes"),
        (lambda d: b"XXXX" + d[4:], "magic"),
        (lambda d: d[:5] + b"\x09" + d[6:], "another engine"),
        (lambda d: d[:20] + bytes([d[20] ^ 0xFF]) + d[21:], "checksum"),
    ],
)
def test_damaged_template_bytes_are_refused(mutate, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        from_bytes(mutate(to_bytes(template(FRONTAL))))


def test_nan_template_cannot_be_serialised() -> None:
    bad = np.full(128, np.nan, dtype=np.float32)
    with pytest.raises(TemplateError):
        to_bytes(bad)


def test_verify_runs_the_quality_gate_before_matching() -> None:
    from biometrics.templates import verify

    enrolled = template("face_recognition/examples/knn_examples/test/obama1.jpg")
    good = synth.framed(photo(FRONTAL), points(FRONTAL), face_px=220)
    report, match = verify(good, enrolled)
    assert report.ok and match is not None and match.outcome == "passed"
    report, match = verify((good * 0.25).astype(np.uint8), enrolled)
    assert not report.ok and match is None
    assert "too_dark" in [r.code for r in report.reasons]
