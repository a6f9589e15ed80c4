"""Fixtures of the face engine's tests: the shared photo set, read in place (never copied
into the repository), with decoded images and templates cached for the session."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from biometrics.detection import detect_faces
from biometrics.image import load_image
from biometrics.mesh import face_mesh
from biometrics.templates import encode

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "faces"

# the helper module of synthesized frames lives beside the tests
sys.path.insert(0, str(Path(__file__).resolve().parent))

# well-lit, frontal, sharp photos used as the "good" input of edits
FRONTAL = "face_recognition/examples/obama.jpg"
FRONTAL_2 = "deepface/tests/unit/dataset/img20.jpg"
LIVENESS_FACES = ("deepface/tests/unit/dataset/img20.jpg", "lfw/Colin_Powell/Colin_Powell_0007.jpg")
OTHER_PERSON = "deepface/tests/unit/dataset/img10.jpg"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    assert (FACES / "MANIFEST.tsv").is_file(), f"shared face set missing at {FACES}"
    return FACES


@cache
def photo(name: str) -> np.ndarray:
    image = load_image(FACES / name)
    image.setflags(write=False)  # shared between tests: edits must copy
    return image


@cache
def points(name: str) -> np.ndarray:
    """The photo's face mesh, (468, 3): x, y in pixels, z depth."""
    image = photo(name)
    mesh = face_mesh(image, around=detect_faces(image)[0].as_tuple())
    assert mesh is not None, name
    return mesh.points


@cache
def template(name: str) -> np.ndarray:
    return encode(photo(name))
