"""The floors printed beside two figures (`nongbao bench demo`, scripts/liveness_cpu.py): the
keys are there and the ratio is the printed figure over the printed floor. The measurements
themselves take minutes, so they are stubbed (demo) or left out (liveness): no timing is
asserted."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from backend import bench as bench_module
from backend.bench import bench, demo_summary

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "liveness_cpu.py"
# three runs of the demo and of its floor, out of order: the medians are 36.8 and 4.1
RUNS = [
    {"ready_seconds": 40.2, "floor_seconds": 4.1},
    {"ready_seconds": 36.8, "floor_seconds": 3.9},
    {"ready_seconds": 35.0, "floor_seconds": 5.0},
]


def test_demo_summary_medians_and_ratio() -> None:
    r = demo_summary(RUNS)
    assert (r["ready_seconds"], r["floor_seconds"]) == (36.8, 4.1)
    assert r["ratio"] == round(36.8 / 4.1, 2)
    assert r["runs"] == [35.0, 36.8, 40.2] and r["floor_runs"] == [3.9, 4.1, 5.0]


@pytest.mark.parametrize("as_json", [True, False])
def test_bench_demo_prints_floor_and_ratio(monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    runs = iter(RUNS)
    monkeypatch.setattr(bench_module, "demo_ready_seconds", lambda: next(runs))
    result = CliRunner().invoke(bench, ["demo", "--runs", "3", *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    if as_json:
        r = json.loads(result.output)["demo"]
        assert {"ready_seconds", "floor_seconds", "ratio"} <= r.keys()
        assert r["ratio"] == round(r["ready_seconds"] / r["floor_seconds"], 2)
    else:
        assert "after 36.8 s" in result.output and "floor 4.1 s" in result.output
        assert f"ratio {round(36.8 / 4.1, 2)}x" in result.output


def _liveness_script() -> ModuleType:
    # scripts/ is not a package: load the file itself
    spec = importlib.util.spec_from_file_location("liveness_cpu", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_liveness_cpu_report_has_floor_and_ratio() -> None:
    r = _liveness_script().report(1.4689, 0.2712)
    assert {"cpu_s", "floor_cpu_s", "ratio"} <= r.keys()
    assert (r["cpu_s"], r["floor_cpu_s"]) == (1.47, 0.27)
    assert r["ratio"] == round(r["cpu_s"] / r["floor_cpu_s"], 2)  # the printed figures divide
