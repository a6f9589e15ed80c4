"""1:N duplicate search on the memory-mapped index (correctness; speed is in `bench`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import template

from biometrics.errors import IndexFileError
from biometrics.index import CHUNK_ROWS, TemplateIndex


def random_templates(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 128)) * 0.09).astype(np.float32)


def brute_force(matrix: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    d = np.linalg.norm(matrix - query, axis=1)
    return [int(ids[i]) for i in np.argsort(d, kind="stable")[:k]]


def test_search_matches_brute_force_across_chunks(tmp_path: Path) -> None:
    n = CHUNK_ROWS + 5_000  # more than one chunk
    matrix = random_templates(n)
    ids = np.arange(10, 10 + n)
    index = TemplateIndex(tmp_path / "ix")
    index.add_many(ids.tolist(), matrix)
    rng = np.random.default_rng(1)
    for row in rng.integers(0, n, 5):
        query = matrix[row] + rng.standard_normal(128).astype(np.float32) * 0.01
        found = index.search(query, k=5)
        assert [i for i, _ in found] == brute_force(matrix, ids, query, 5)
        assert found[0][0] == ids[row]
        expected = float(np.linalg.norm(matrix[row] - query))
        assert found[0][1] == pytest.approx(expected, abs=1e-3)
        assert [d for _, d in found] == sorted(d for _, d in found)


def test_real_duplicate_enrolment_is_found(tmp_path: Path) -> None:
    index = TemplateIndex(tmp_path / "ix")
    index.add_many(range(1000), random_templates(1000, seed=2))
    index.add(5001, template("lfw/Colin_Powell/Colin_Powell_0005.jpg"))
    index.add(5002, template("lfw/George_W_Bush/George_W_Bush_0002.jpg"))
    (best_id, best_distance), *_ = index.search(
        template("lfw/Colin_Powell/Colin_Powell_0010.jpg"), k=3
    )
    assert best_id == 5001 and best_distance < 0.5


def test_remove_and_replace(tmp_path: Path) -> None:
    index = TemplateIndex(tmp_path / "ix")
    matrix = random_templates(100)
    index.add_many(range(100), matrix)
    assert index.remove(7) and not index.remove(7)
    assert 7 not in index and len(index) == 99
    assert all(i != 7 for i, _ in index.search(matrix[7], k=10))
    index.add(8, matrix[50])  # replacing keeps one row per id
    assert len(index) == 99
    hits = index.search(matrix[50], k=2)
    assert {i for i, _ in hits} == {8, 50}


def test_index_persists_and_reopens(tmp_path: Path) -> None:
    matrix = random_templates(3000)
    index = TemplateIndex(tmp_path / "ix")
    index.add_many(range(3000), matrix)
    index.remove(3)
    reopened = TemplateIndex(tmp_path / "ix")
    assert len(reopened) == 2999 and 3 not in reopened
    assert reopened.search(matrix[1234], k=1)[0][0] == 1234
    kept = reopened.get(1234)
    assert kept is not None and np.array_equal(kept, matrix[1234])


def test_compact_drops_removed_rows(tmp_path: Path) -> None:
    matrix = random_templates(50)
    index = TemplateIndex(tmp_path / "ix")
    index.add_many(range(50), matrix)
    for i in range(0, 50, 2):
        index.remove(i)
    index.compact()
    meta = json.loads((tmp_path / "ix" / "meta.json").read_text())
    assert meta["count"] == 25
    assert index.search(matrix[21], k=1)[0][0] == 21


def test_empty_index_and_bad_input(tmp_path: Path) -> None:
    index = TemplateIndex(tmp_path / "ix")
    assert index.search(random_templates(1)[0], k=3) == []
    with pytest.raises(ValueError):
        index.add(-1, random_templates(1)[0])
    bad = random_templates(1)[0]
    bad[0] = np.nan
    with pytest.raises(ValueError):
        index.add(1, bad)


def test_foreign_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ix").mkdir()
    (tmp_path / "ix" / "meta.json").write_text(
        '{"format": "other", "dim": 128, "count": 0, "capacity": 0}'
    )
    with pytest.raises(IndexFileError):
        TemplateIndex(tmp_path / "ix")


def test_batch_search_equals_single_searches(tmp_path: Path) -> None:
    matrix = random_templates(CHUNK_ROWS + 100, seed=4)
    index = TemplateIndex(tmp_path / "ix")
    index.add_many(range(len(matrix)), matrix)
    index.remove(5)
    queries = matrix[[5, 17, CHUNK_ROWS + 50]] + 0.001
    batched = index.search_many(queries, k=4)
    assert len(batched) == 3
    for query, hits in zip(queries, batched, strict=True):
        single = index.search(query, k=4)
        assert [i for i, _ in hits] == [i for i, _ in single]
        assert np.allclose([d for _, d in hits], [d for _, d in single], atol=1e-5)
    assert batched[1][0][0] == 17 and batched[2][0][0] == CHUNK_ROWS + 50
    assert all(i != 5 for i, _ in batched[0])
