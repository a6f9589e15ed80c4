"""Packaging guarantees: the engine stands alone and fails loudly without its models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


def test_the_non_commercial_68_point_model_is_never_loaded() -> None:
    """Landmarks come from MediaPipe's face mesh (Apache-2.0); dlib keeps only the HOG
    detector, the 5-point alignment and the encoder."""
    from biometrics import detection
    from biometrics.models import MODEL_FILES

    assert "landmarks_68" not in MODEL_FILES
    assert not hasattr(detection.models(), "landmarks_68")
    with pytest.raises(ValueError):
        detection.landmarks(np.zeros((64, 64, 3), np.uint8), detection.Box(0, 0, 60, 60), points=68)


def test_nongbao_root_command_reaches_the_faces_group() -> None:
    exe = Path(sys.executable).parent / "nongbao"
    out = subprocess.run([str(exe), "faces", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    for command in ("evaluate", "calibrate", "bench", "pad-evaluate"):
        assert command in out.stdout


def test_missing_model_files_fail_loudly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import biometrics.models as models

    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    with pytest.raises(ModelsMissingError, match="face model file missing"):
        check_models()
