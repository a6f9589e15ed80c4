"""A smoke run of `nongbao bench certifications` (tiny and bounded): the lead runs the real sizes."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backend import bench as bench_module
from backend.bench import bench, cert_photos, certification_rate, unique_jpeg
from tests.conftest import SHARED

KEYS = {
    "database",
    "faces",
    "workers",
    "concurrency",
    "requests",
    "submitted",
    "errors",
    "outcomes",
    "seconds",
    "submissions_per_second",
    "p50_ms",
    "p95_ms",
    "max_ms",
    "floor_per_second",
    "ratio",
}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_certification_bench_smoke(kind: str) -> None:
    result = CliRunner().invoke(
        bench,
        ["certifications", "--requests", "4", "--concurrency", "2", "--database", kind, "--json"],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert list(body) == ["certifications"] and len(body["certifications"]) == 1
    r = body["certifications"][0]
    assert set(r) == KEYS
    assert (r["database"], r["requests"], r["concurrency"], r["workers"]) == (kind, 4, 2, 1)
    assert (r["submitted"], r["errors"], r["outcomes"]) == (4, 0, {"passed": 4})
    assert r["faces"] == str(SHARED / "faces" / "lfw" / "Donald_Rumsfeld")
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"]
    assert r["submissions_per_second"] == pytest.approx(4 / r["seconds"], rel=0.02)
    # the floor: the encoder once per picture sent; the ratio is floor / figure (throughput)
    assert isinstance(r["floor_per_second"], float) and r["floor_per_second"] > 0
    assert r["ratio"] == pytest.approx(
        r["floor_per_second"] / r["submissions_per_second"], abs=0.01
    )


def test_without_the_shared_faces_the_astronaut_certifies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_module, "CERT_FACES", tmp_path / "no-faces-here")
    r = certification_rate("sqlite", requests=2, concurrency=1, seconds=120)
    assert r["faces"] == "skimage.data.astronaut"
    assert (r["submitted"], r["errors"], r["outcomes"]) == (2, 0, {"passed": 2})


def test_a_faces_folder_without_the_photos_is_refused(tmp_path: Path) -> None:
    import click

    with pytest.raises(click.ClickException, match="are needed under --faces"):
        cert_photos(tmp_path)
    enrol, probe, source = cert_photos(SHARED / "faces")
    assert enrol != probe and source.endswith("lfw/Donald_Rumsfeld")


def test_each_submission_is_new_bytes_of_the_same_picture() -> None:
    from PIL import Image

    _, probe, _ = cert_photos()
    a, b = unique_jpeg(probe, "bench p1"), unique_jpeg(probe, "bench p2")
    assert len({hashlib.sha256(x).digest() for x in (probe, a, b)}) == 3
    pixels = [Image.open(io.BytesIO(x)).convert("RGB").tobytes() for x in (probe, a, b)]
    assert pixels[0] == pixels[1] == pixels[2]
