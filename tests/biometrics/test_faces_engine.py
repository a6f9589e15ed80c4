"""Packaging guarantees: the engine stands alone and fails loudly without its models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from biometrics.detection import LANDMARKS_68_ENV, landmarks_68_path
from biometrics.errors import ModelsMissingError
from biometrics.models import check_models, model_path

REPO = Path(__file__).resolve().parents[2]


def test_engine_imports_nothing_else_of_ours() -> None:
    code = (
        "import sys, biometrics.cli, biometrics.liveness, biometrics.index, biometrics.quality;"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'backend', 'kivy', 'hardware', 'kiosk_app', 'field_app', 'face_recognition'});"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == ""


def test_models_are_present_here() -> None:
    check_models()
    assert model_path("encoder").stat().st_size > 1_000_000


def test_a_swapped_landmark_model_that_is_missing_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(LANDMARKS_68_ENV, str(tmp_path / "absent.dat"))
    with pytest.raises(ModelsMissingError, match=LANDMARKS_68_ENV):
        landmarks_68_path()


def test_nongbao_root_command_reaches_the_faces_group() -> None:
    exe = Path(sys.executable).parent / "nongbao"
    out = subprocess.run([str(exe), "faces", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    for command in ("evaluate", "calibrate", "bench"):
        assert command in out.stdout


def test_missing_model_files_fail_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import biometrics.models as models

    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelsMissingError, match="face model file missing"):
        check_models()
