"""Locating dlib's model files, failing loudly when they are missing.

face_recognition_models imports pkg_resources; without it (setuptools >= 81) the
face_recognition package prints a hint and calls quit() with status 0, so a process
would end "successfully" with no face engine. We locate the files ourselves.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_FILES = {
    "detector_cnn": "mmod_human_face_detector.dat",
    "landmarks_5": "shape_predictor_5_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
}


class ModelsMissingError(RuntimeError):
    """The face engine's model files cannot be found."""


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise ModelsMissingError(
            "face_recognition_models is not installed: run `make setup` "
            "(it is a pip package of dlib's model files)"
        )
    return Path(spec.origin).parent / "models"


def model_path(name: str) -> Path:
    path = models_dir() / MODEL_FILES[name]
    if not path.is_file():
        raise ModelsMissingError(
            f"face model file missing: {path}; reinstall face_recognition_models"
        )
    return path


def check_models() -> None:
    """Raise ModelsMissingError unless every model file and pkg_resources are present."""
    for name in MODEL_FILES:
        model_path(name)
    if importlib.util.find_spec("pkg_resources") is None:
        raise ModelsMissingError(
            "pkg_resources is missing (setuptools >= 81?): face_recognition would quit() "
            "silently; install setuptools<81"
        )
