"""Error-rate arithmetic of the evaluation, on made-up templates (no photos needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biometrics.evaluation import (
    Encoded,
    PairScores,
    Sample,
    pair_scores,
    propose_thresholds,
    rates,
    threshold_for_fmr,
)
from biometrics.templates import Thresholds


def encoded_set(people: int, photos: int, seed: int = 0) -> list[Encoded]:
    rng = np.random.default_rng(seed)
    out = []
    for p in range(people):
        centre = rng.standard_normal(128) * 0.09
        for i in range(photos):
            t = (centre + rng.standard_normal(128) * 0.02).astype(np.float32)
            out.append(Encoded(Sample(Path(f"{p}/{i}.jpg"), f"person{p}"), t, True))
    return out


def test_pair_scores_match_brute_force() -> None:
    enc = encoded_set(6, 4)
    scores = pair_scores(enc)
    assert scores.genuine.size == 6 * 6  # C(4,2) per person
    assert scores.impostor.size == 24 * 23 // 2 - 36
    a, b = enc[0].template, enc[1].template
    assert a is not None and b is not None
    assert np.isclose(scores.genuine, np.linalg.norm(a - b), atol=1e-5).any()
    assert scores.genuine.max() < scores.impostor.min()


def test_impostor_pairs_are_sampled_beyond_the_cap() -> None:
    scores = pair_scores(encoded_set(20, 3), max_impostor_pairs=300)
    assert scores.genuine.size == 20 * 3
    assert 200 < scores.impostor.size < 400  # about 300 of 1710


def test_rates_and_thresholds() -> None:
    scores = PairScores(
        genuine=np.array([0.2, 0.3, 0.45, 0.55, 0.7]), impostor=np.linspace(0.5, 1.0, 100)
    )
    r = rates(scores, Thresholds(0.5, 0.6))
    assert r["fnmr_at_pass"] == pytest.approx(0.4) and r["fnmr_at_refer"] == pytest.approx(0.2)
    assert r["fmr_at_pass"] == pytest.approx(0.01) and r["fmr_at_refer"] == pytest.approx(0.20)
    t = threshold_for_fmr(scores.impostor, 0.0)
    assert t is not None and t < 0.5 and (scores.impostor <= t).sum() == 0
    proposed = propose_thresholds(scores, target_fmr=0.05, target_fnmr=0.2)
    assert proposed is not None and proposed.pass_at <= proposed.refer_at
    assert (scores.impostor <= proposed.pass_at).mean() <= 0.05
