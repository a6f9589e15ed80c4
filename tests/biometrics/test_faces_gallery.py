"""The gallery decision, its trimming and its evaluation, on made-up templates (fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from biometrics.evaluation import (
    Encoded,
    PairScores,
    Sample,
    gallery_scores,
    gate_report,
    propose_gallery_thresholds,
    propose_thresholds,
    rates,
    select,
    upper_bound,
)
from biometrics.gallery import DEFAULT_GALLERY_THRESHOLDS, Entry, match, mean_template, trim
from biometrics.templates import DEFAULT_THRESHOLDS, Thresholds
from biometrics.thresholds import (
    DEFAULT_GALLERY3_THRESHOLDS,
    DEFAULT_GALLERY_BY_SIZE,
    GalleryThresholds,
    size_class,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def people(n: int, photos: int, spread: float = 0.035, seed: int = 1) -> list[Encoded]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n):
        centre = rng.standard_normal(128) * 0.09
        for i in range(photos):
            t = (centre + rng.standard_normal(128) * spread).astype(np.float32)
            out.append(Encoded(Sample(Path(f"{p}/{i}.jpg"), f"p{p}"), t, True))
    return out


def test_mean_of_a_gallery_is_nearer_than_its_farthest_photo() -> None:
    enc = people(1, 4)
    templates = [e.template for e in enc[1:] if e.template is not None]
    probe = enc[0].template
    assert probe is not None
    single = max(float(np.linalg.norm(probe - t)) for t in templates)
    assert float(np.linalg.norm(probe - mean_template(templates))) < single


def test_match_takes_the_nearest_probe_and_the_thresholds_of_its_kind() -> None:
    enc = people(2, 3)
    gallery = [e.template for e in enc[:2] if e.template is not None]
    own, other = enc[2].template, enc[3].template
    assert own is not None and other is not None
    m = match([other, own], gallery, DEFAULT_GALLERY_BY_SIZE)
    assert m.probe == 1 and m.size == 2 and m.result.outcome == "passed"
    assert m.thresholds == DEFAULT_GALLERY_THRESHOLDS
    assert match([other], gallery, DEFAULT_GALLERY_BY_SIZE).result.outcome == "failed"
    # a grey distance: referred by one template (refer 0.60), failed by a gallery mean whose
    # county calibrated a lower refer line (0.55)
    county = GalleryThresholds(pair=Thresholds(0.50, 0.55), three=Thresholds(0.50, 0.55))
    probe = at_distance(0.58)
    single = match([probe], [BASE], county)
    double = match([probe], [BASE, BASE], county)
    assert (single.result.outcome, double.result.outcome) == ("referred", "failed")


BASE = np.zeros(128, np.float32)


def at_distance(d: float) -> np.ndarray:
    probe = BASE.copy()
    probe[0] = d
    return probe


def test_each_gallery_size_has_its_pair_and_three_or_more_refer_below_two() -> None:
    # the default policy: 2 templates refer up to 0.60, 3 or more up to 0.57 only
    probe = at_distance(0.58)
    by_size = {k: match([probe], [BASE] * k, DEFAULT_GALLERY_BY_SIZE) for k in (1, 2, 3, 5)}
    assert {k: m.result.outcome for k, m in by_size.items()} == {
        1: "referred",
        2: "referred",
        3: "failed",
        5: "failed",
    }
    assert {k: m.thresholds for k, m in by_size.items()} == {
        1: DEFAULT_THRESHOLDS,
        2: DEFAULT_GALLERY_THRESHOLDS,
        3: DEFAULT_GALLERY3_THRESHOLDS,
        5: DEFAULT_GALLERY3_THRESHOLDS,
    }
    assert (DEFAULT_GALLERY3_THRESHOLDS.pass_at, DEFAULT_GALLERY3_THRESHOLDS.refer_at) == (
        0.50,
        0.57,
    )
    assert [size_class(k) for k in (0, 1, 2, 3, 10)] == [1, 1, 2, 3, 3]
    # the pair is data: a county's own 3+ pair is the one applied
    county = GalleryThresholds(three=Thresholds(0.50, 0.59))
    assert match([probe], [BASE] * 3, county).result.outcome == "referred"


def entry(key: str, source: str, day: int) -> Entry:
    return Entry(key, np.zeros(128, np.float32), source, T0 + timedelta(days=day))  # type: ignore[arg-type]


def test_trim_drops_the_oldest_but_keeps_the_newest_enrolment_photo() -> None:
    entries = [entry("e1", "enrolment", 0), entry("e2", "enrolment", 0)]
    entries += [entry(f"c{y}", "certification", 365 * y) for y in range(1, 5)]
    kept, dropped = trim(entries, 3)
    assert [e.key for e in dropped] == ["e1", "c1", "c2"]
    assert {e.key for e in kept} == {"e2", "c3", "c4"}
    kept, dropped = trim(entries, 10)
    assert not dropped and len(kept) == 6
    with pytest.raises(ValueError):
        trim(entries, 0)


def test_gallery_scores_count_genuine_and_impostor_galleries() -> None:
    enc = people(4, 4)
    scores = gallery_scores(enc, 2, draws=3)
    assert scores.genuine.size == 4 * 4 * 3  # each photo, 3 galleries of its other photos
    assert scores.impostor.size == 16 * 3 * 3  # each photo, 3 galleries of each other person
    assert scores.genuine.max() < scores.impostor.min()
    # a refused photo probes but never enters a gallery: person 0's other photos have only
    # two photos left to make a 3-photo gallery; each other photo exactly one
    enc[0].enrol_ok = False
    assert gallery_scores(enc, 3, draws=2).genuine.size == 1 + 3 * 4


def test_gate_report_measures_refused_photos_against_accepted_ones() -> None:
    enc = people(3, 4)
    enc[0].enrol_ok, enc[0].refusals = False, ("blurred",)
    report = gate_report(enc, 0.5)
    assert report["refused"] == 1 and report["refused_share"] == pytest.approx(1 / 12, abs=1e-3)
    quality = report["match_quality"]
    assert isinstance(quality, dict) and quality["blurred"]["photos"] == 1
    assert quality["accepted"]["photos"] == 11


def test_margin_aims_below_the_target_fmr() -> None:
    scores = gallery_scores(people(12, 4, spread=0.06), 2)
    plain = propose_thresholds(scores, 0.01)
    strict = propose_thresholds(scores, 0.01, margin=10)
    assert plain is not None and strict is not None and strict.pass_at <= plain.pass_at
    assert (scores.impostor <= strict.pass_at).mean() <= 0.001


def test_every_gallery_of_every_identity_and_each_probe_counted_once() -> None:
    from math import comb

    enc = people(4, 5, spread=0.02)
    scores = gallery_scores(enc, 2, draws=None)
    # genuine: each photo against every 2-photo gallery of its person's 4 other photos
    assert scores.genuine.size == 20 * comb(4, 2) and scores.genuine_probes == 20
    assert scores.genuine_weight is not None
    assert scores.genuine_weight.sum() == pytest.approx(20)  # each probe photo weighs one
    # impostor: each photo against every gallery (C(5, 2)) of each of the 3 other people
    assert scores.impostor.size == 20 * 3 * comb(5, 2)
    assert scores.impostor_unit_min is not None and scores.impostor_unit_min.size == 20 * 3
    r = rates(scores, DEFAULT_GALLERY_THRESHOLDS)
    assert r["fnmr_at_pass"] == 0 and r["fmr_at_pass"] == 0


def test_weighted_fnmr_counts_photos_not_comparisons() -> None:
    # probe A: 1 gallery, rejected; probe B: 3 galleries, all accepted -> FNMR 1/2, not 1/4
    scores = PairScores(
        genuine=np.array([0.3, 0.3, 0.3, 0.7]),
        impostor=np.array([0.9]),
        genuine_weight=np.array([1 / 3, 1 / 3, 1 / 3, 1.0]),
    )
    assert rates(scores, Thresholds(0.5, 0.6))["fnmr_at_pass"] == pytest.approx(0.5)


def test_upper_bound_is_the_rule_of_three_without_errors() -> None:
    assert upper_bound(0, 3000) == pytest.approx(3 / 3000, rel=0.01)
    assert upper_bound(0, 28_624) == pytest.approx(1.05e-4, rel=0.01)
    two, none = upper_bound(2, 1000), upper_bound(0, 1000)
    assert two is not None and none is not None and two > none
    assert upper_bound(0, 0) is None


def test_identity_disjoint_folds_cover_the_set_once() -> None:
    samples = [
        Sample(Path(f"/set/{d}/{p}/{i}.jpg"), p)
        for d in ("a", "b")
        for p in "pqrs"
        for i in range(2)
    ]
    halves = [select(samples, Path("/set"), fold=(i, 2)) for i in range(2)]
    ids = [{s.identity for s in h} for h in halves]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == set("pqrs")
    assert {s.path.parts[2] for s in select(samples, Path("/set"), only=("a/*",))} == {"a"}
    assert {s.path.parts[2] for s in select(samples, Path("/set"), skip=("a/*",))} == {"b"}


def test_gallery_thresholds_pass_no_more_than_needed_and_refer_where_impostors_begin() -> None:
    genuine = np.linspace(0.2, 0.58, 200)
    impostor = np.linspace(0.55, 1.1, 5000)
    proposed = propose_gallery_thresholds(PairScores(genuine, impostor))
    assert proposed is not None
    # 97.5% of genuine distances lie within 0.5707, but the nearest impostor is at 0.55
    assert proposed.pass_at == 0.54 and (impostor <= proposed.pass_at).sum() == 0
    # no genuine photo beyond 0.58 fails; impostors begin (0.1%) at 0.5555
    assert proposed.refer_at == 0.58
