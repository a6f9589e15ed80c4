"""The gallery decision, its trimming and its evaluation, on made-up templates (fast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from biometrics.evaluation import Encoded, Sample, gallery_scores, gate_report, propose_thresholds
from biometrics.gallery import DEFAULT_GALLERY_THRESHOLDS, Entry, match, mean_template, trim
from biometrics.templates import DEFAULT_THRESHOLDS

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
    m = match([other, own], gallery, DEFAULT_THRESHOLDS, DEFAULT_GALLERY_THRESHOLDS)
    assert m.probe == 1 and m.size == 2 and m.result.outcome == "passed"
    assert match(
        [other], gallery, DEFAULT_THRESHOLDS, DEFAULT_GALLERY_THRESHOLDS
    ).result.outcome == ("failed")
    # a grey distance: referred by one template (0.60), failed by a gallery mean (0.55)
    base = np.zeros(128, np.float32)
    probe = base.copy()
    probe[0] = 0.58
    single = match([probe], [base], DEFAULT_THRESHOLDS, DEFAULT_GALLERY_THRESHOLDS)
    double = match([probe], [base, base], DEFAULT_THRESHOLDS, DEFAULT_GALLERY_THRESHOLDS)
    assert (single.result.outcome, double.result.outcome) == ("referred", "failed")


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
