"""Face templates (dlib ResNet 128-d descriptors), 1:1 decisions and enrolment.

A template is the 128-d descriptor of dlib's ResNet model (dlib_face_recognition_resnet_
model_v1), aligned on the 5-point landmarks (licence-clean, see docs/biometrics.md). Two
templates of one person are usually under 0.5 apart (Euclidean); dlib's own LFW threshold
is 0.6. The defaults below were calibrated on /work/shared/faces (`nongbao faces evaluate`)
and are only a starting point: that set has almost no East Asian or elderly faces, so each
county must recalibrate on its own photos (`nongbao faces calibrate`).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from biometrics.detection import MODEL_LOCK, Box, detect_faces, models
from biometrics.errors import NoFaceError, TemplateError
from biometrics.image import ensure_rgb
from biometrics.quality import QualityReport, assess
from biometrics.reasons import Reason, reason

# re-exported: their home is biometrics/thresholds.py (light, read by the backend's policy)
from biometrics.thresholds import DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS
from biometrics.thresholds import Thresholds as Thresholds

DIM = 128
Outcome = Literal["passed", "referred", "failed"]

# Serialised template: magic, format version, engine id, dimension, float32 LE values, crc32.
_MAGIC = b"NBFT"
_FORMAT_VERSION = 1
ENGINE_ID = 1  # dlib_face_recognition_resnet_model_v1 on 5-point alignment
_HEADER = struct.Struct("<4sBBH")
_TEMPLATE_BYTES = _HEADER.size + DIM * 4 + 4


@dataclass(frozen=True, slots=True)
class MatchResult:
    outcome: Outcome
    distance: float
    reasons: list[Reason]

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class EnrolResult:
    ok: bool
    template: np.ndarray | None
    reasons: list[Reason]
    reports: list[QualityReport] = field(default_factory=list)
    used: list[int] = field(default_factory=list)  # indexes of the photos that went in
    encodings: list[np.ndarray] = field(default_factory=list)  # one per used photo (a gallery)


def encode(image: np.ndarray, box: Box | None = None, *, num_jitters: int = 0) -> np.ndarray:
    """The 128-d float32 template of the face in `box` (default: the largest face).

    Raises NoFaceError when no face is found. num_jitters > 0 averages over randomly
    perturbed crops (slower, slightly more stable; useful at enrolment).
    """
    image = ensure_rgb(image)
    if box is None:
        boxes = detect_faces(image)
        if not boxes:
            raise NoFaceError("no face found in the image")
        box = boxes[0]
    m = models()
    with MODEL_LOCK:
        shape = m.landmarks_5(image, box.to_dlib())
        descriptor = m.encoder.compute_face_descriptor(image, shape, num_jitters)
    return np.asarray(descriptor, dtype=np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two templates (0 = identical; same person usually < 0.5)."""
    return float(np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32)))


def decide(dist: float, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> MatchResult:
    """Map a distance to passed / referred (staff review) / failed."""
    if dist <= thresholds.pass_at:
        return MatchResult("passed", dist, [reason("match")])
    if dist <= thresholds.refer_at:
        return MatchResult("referred", dist, [reason("uncertain_match")])
    return MatchResult("failed", dist, [reason("no_match")])


def verify(
    image: np.ndarray, template: np.ndarray, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[QualityReport, MatchResult | None]:
    """Quality-check a live picture and, if usable, compare it with an enrolled template."""
    report = assess(image, purpose="verify")
    if not report.ok or report.box is None:
        return report, None
    return report, decide(distance(encode(image, report.box), template), thresholds)


def enrol(
    images: Iterable[np.ndarray],
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    num_jitters: int = 1,
) -> EnrolResult:
    """Make one template from one or more photos that pass the enrolment quality gate.

    Several photos are averaged (more robust to one photo's lighting or expression), but
    only if they agree with each other: photos of different people are refused.
    """
    reports: list[QualityReport] = []
    encodings: list[np.ndarray] = []
    used: list[int] = []
    for i, image in enumerate(images):
        report = assess(image, purpose="enrol")
        reports.append(report)
        if report.ok and report.box is not None:
            encodings.append(encode(image, report.box, num_jitters=num_jitters))
            used.append(i)
    if not encodings:
        refused = [r for rep in reports for r in rep.reasons]
        return EnrolResult(False, None, [reason("no_usable_photo"), *_unique(refused)], reports)
    # photos of one person lie beyond the pass line in ~8% of pairs (shared set): only a
    # distance past the refer line (1% of genuine pairs, 0.1% of impostors) says two people
    if _max_pairwise(encodings) > thresholds.refer_at:
        return EnrolResult(False, None, [reason("photos_disagree")], reports, used)
    template = np.mean(encodings, axis=0).astype(np.float32)
    return EnrolResult(True, template, [], reports, used, encodings)


def to_bytes(template: np.ndarray) -> bytes:
    """Serialise a template (for the backend to encrypt and store)."""
    values = _checked(np.asarray(template))
    body = _HEADER.pack(_MAGIC, _FORMAT_VERSION, ENGINE_ID, DIM) + values.astype("<f4").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def from_bytes(data: bytes) -> np.ndarray:
    """Parse bytes from to_bytes; raises TemplateError if they are not a valid template."""
    if len(data) != _TEMPLATE_BYTES:
        raise TemplateError(f"a template is {_TEMPLATE_BYTES} bytes, got {len(data)}")
    magic, version, engine, dim = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise TemplateError("not a face template (bad magic)")
    if version != _FORMAT_VERSION or engine != ENGINE_ID or dim != DIM:
        raise TemplateError(
            f"template of another engine (format {version}, engine {engine}, dim {dim}): "
            "re-enrol the person with this engine"
        )
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise TemplateError("template is corrupt (checksum mismatch)")
    values = np.frombuffer(data, dtype="<f4", count=DIM, offset=_HEADER.size)
    return _checked(values.astype(np.float32))


def _checked(template: np.ndarray) -> np.ndarray:
    if template.shape != (DIM,):
        raise TemplateError(f"a template has shape ({DIM},), got {template.shape}")
    if not np.isfinite(template).all():
        raise TemplateError("template contains NaN or infinity")
    return template.astype(np.float32, copy=False)


def _max_pairwise(encodings: Sequence[np.ndarray]) -> float:
    if len(encodings) < 2:
        return 0.0
    stacked = np.stack(encodings)
    diffs = stacked[:, None, :] - stacked[None, :, :]
    return float(np.sqrt((diffs**2).sum(axis=-1)).max())


def _unique(reasons: list[Reason]) -> list[Reason]:
    seen: dict[str, Reason] = {}
    for r in reasons:
        seen.setdefault(r.code, r)
    return list(seen.values())
