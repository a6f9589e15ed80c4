"""The one door from the backend to the face engine (`biometrics`).

Everything the backend needs from face recognition goes through here, so a change of the
engine's API touches this file only. Templates cross this boundary as bytes (the engine's
versioned, checksummed format) and images as the uploaded bytes; errors become
backend.errors so the API answers problem+json.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, cast

import numpy as np

from backend.errors import InvalidInput

if TYPE_CHECKING:
    from biometrics.detection import Box as BoxType
    from biometrics.liveness import Action, FrameMeasurement
    from biometrics.quality import QualityReport

MAX_PIXELS = 16_000_000  # a 16 MP phone photo; more is refused before decoding
_CACHE_SIZE = 64
CLOCK_SKEW_SECONDS = 5.0  # device clocks may run a little ahead of the server's


@dataclass(frozen=True)
class Probe:
    """A verify-quality face of one uploaded image, or the reasons it was refused."""

    template: bytes | None
    reasons: list[dict[str, str]]
    quality: float = 0.0


@dataclass(frozen=True)
class Enrolled:
    ok: bool
    template: bytes | None
    quality: float
    reasons: list[dict[str, str]]
    photos: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    outcome: str  # passed | referred | failed
    distance: float


@dataclass(frozen=True)
class Liveness:
    passed: bool
    reasons: list[str]


def _engine() -> tuple[ModuleType, ModuleType, ModuleType]:
    # imported lazily: dlib loads its models on first use, and not every request needs them
    from biometrics import image, quality, templates

    return image, quality, templates


def load(data: bytes, field_name: str = "images") -> np.ndarray:
    from biometrics.errors import ImageError

    image, _, _ = _engine()
    try:
        return image.load_image(data, max_pixels=MAX_PIXELS)
    except ImageError as exc:
        raise InvalidInput(
            f"{field_name}: {exc}", errors=[{"field": field_name, "message": str(exc)}]
        ) from None


def _score(report: QualityReport) -> float:
    """A 0..1 figure for staff: size and sharpness of the face, each capped."""
    m = report.measurements
    return round(min(1.0, m.face_px / 160) * min(1.0, m.sharpness / 200), 3)


def enrol(images: Sequence[bytes]) -> Enrolled:
    _, _, templates = _engine()
    arrays = [load(b) for b in images]
    result = templates.enrol(arrays)
    photos = [{"ok": r.ok, "reasons": [x.as_dict() for x in r.reasons]} for r in result.reports]
    if not result.ok or result.template is None:
        return Enrolled(False, None, 0.0, [r.as_dict() for r in result.reasons], photos)
    best = max((_score(result.reports[i]) for i in result.used), default=0.0)
    return Enrolled(True, templates.to_bytes(result.template), best, [], photos)


_cache: OrderedDict[str, Probe] = OrderedDict()
_cache_lock = threading.Lock()


def probe(data: bytes, *, require_quality: bool = True) -> Probe:
    """The template of the face in one uploaded image (verify bar). Cached by content hash:
    a kiosk sends the best image and the sampled liveness frames, often the same bytes."""
    key = hashlib.sha256(data).hexdigest() + str(require_quality)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    found = _probe(data, require_quality)
    with _cache_lock:
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def _probe(data: bytes, require_quality: bool) -> Probe:
    _, quality, templates = _engine()
    image = load(data)
    report = quality.assess(image, purpose="verify")
    if report.box is None or (require_quality and not report.ok):
        return Probe(
            None, [r.as_dict() for r in report.reasons], _score(report) if report.box else 0.0
        )
    return Probe(templates.to_bytes(templates.encode(image, report.box)), [], _score(report))


def best_probe(images: Sequence[bytes]) -> tuple[int, Probe]:
    """(index, probe) of the best-quality usable face among several images; (-1, the last
    refusal) if none is usable."""
    usable: list[tuple[int, Probe]] = []
    refused = Probe(None, [{"code": "no_face", "zh": "没有照片", "en": "No image was sent"}])
    for i, data in enumerate(images):
        p = probe(data)
        if p.template is not None:
            usable.append((i, p))
        else:
            refused = p
    return max(usable, key=lambda ip: ip[1].quality) if usable else (-1, refused)


def warm_samples(evidence_json: str, frames: Sequence[bytes]) -> None:
    """Compute the sampled frames' templates now (they are cached), before the caller opens
    a database transaction: on SQLite that transaction holds the write lock."""
    try:
        items = json.loads(evidence_json or "{}").get("frames") or []
        wanted = {
            int(i["sample"]) for i in items if isinstance(i, dict) and i.get("sample") is not None
        }
    except (ValueError, TypeError, AttributeError):
        return  # malformed evidence is judged (and refused) later
    for index in sorted(wanted):
        if 0 <= index < len(frames):
            probe(frames[index], require_quality=False)


def distance(a: bytes, b: bytes) -> float:
    _, _, templates = _engine()
    return round(templates.distance(templates.from_bytes(a), templates.from_bytes(b)), 4)


def decide(dist: float, pass_at: float, refer_at: float) -> Decision:
    _, _, templates = _engine()
    result = templates.decide(dist, templates.Thresholds(pass_at=pass_at, refer_at=refer_at))
    return Decision(result.outcome, dist)


def nearest(
    probe_template: bytes, candidates: Iterable[tuple[str, bytes]], below: float
) -> list[tuple[str, float]]:
    """1:N: the candidates (id, template) closer than `below`, nearest first. Brute force
    over the decrypted templates: a county has at most a few hundred thousand."""
    _, _, templates = _engine()
    ids, rows = [], []
    for cid, blob in candidates:
        ids.append(cid)
        rows.append(templates.from_bytes(blob))
    if not rows:
        return []
    dists = np.linalg.norm(np.stack(rows) - templates.from_bytes(probe_template), axis=1)
    return sorted(
        ((i, round(float(d), 4)) for i, d in zip(ids, dists, strict=True) if d < below),
        key=lambda x: x[1],
    )


# --- liveness --------------------------------------------------------------------------------


def new_challenge(ttl_seconds: float, now: float) -> tuple[str, str, list[str]]:
    """(challenge_id, nonce, actions) from the engine's secure randomness."""
    from biometrics import liveness

    c = liveness.issue_challenge(ttl=ttl_seconds, now=now)
    return c.challenge_id, c.nonce, list(c.actions)


def check_liveness(
    challenge_id: str,
    nonce: str,
    actions: list[str],
    issued_at: datetime,
    expires_at: datetime,
    evidence_json: str,
    frames: Sequence[bytes],
    reference: bytes,
    now: datetime,
) -> Liveness:
    """Re-run the liveness check on the device's per-frame measurements, with identity
    descriptors the backend computes itself from the sampled frames (never the device's).

    evidence_json: {"frames": [{"t": unix seconds, "face": bool, "ear", "mar", "yaw",
    "aspect", "shape"?: 68x2 normalised landmarks, "sample"?: index into `frames`}]}
    """
    from biometrics import liveness
    from biometrics.detection import Box

    _, _, templates = _engine()
    try:
        measurements = _measurements(evidence_json, frames, liveness, Box)
    except (ValueError, TypeError, KeyError, IndexError):
        return Liveness(False, ["bad_evidence"])
    if any(m.timestamp > now.timestamp() + CLOCK_SKEW_SECONDS for m in measurements):
        return Liveness(
            False, ["bad_evidence"]
        )  # frames from the future were not filmed for this challenge
    # the actions were stored when the backend issued this challenge from liveness.ACTIONS
    issued_actions = cast("tuple[Action, ...]", tuple(actions))
    challenge = liveness.Challenge(
        challenge_id, nonce, issued_actions, issued_at.timestamp(), expires_at.timestamp()
    )
    result = liveness.verify_evidence(
        challenge, measurements, now.timestamp(), reference=templates.from_bytes(reference)
    )
    return Liveness(result.passed, [r.code for r in result.reasons])


def _measurements(
    evidence_json: str, frames: Sequence[bytes], liveness: ModuleType, Box: type[BoxType]
) -> list[FrameMeasurement]:
    raw = json.loads(evidence_json or "{}")
    items = raw.get("frames") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items or len(items) > 2000:
        raise ValueError("no frames")
    out: list[FrameMeasurement] = []
    for item in items:
        descriptor = None
        if item.get("sample") is not None:
            sampled = probe(frames[int(item["sample"])], require_quality=False)
            descriptor = _engine()[2].from_bytes(sampled.template) if sampled.template else None
        box = Box(0, 0, 100, 100) if item.get("face", True) else None
        shape = (
            np.asarray(item["shape"], dtype=np.float64).reshape(68, 2)
            if item.get("shape") is not None
            else None
        )
        out.append(
            liveness.FrameMeasurement(
                timestamp=float(item["t"]),
                box=box,
                ear=float(item.get("ear", 0)),
                mar=float(item.get("mar", 0)),
                yaw=float(item.get("yaw", 0)),
                aspect=float(item.get("aspect", 0)),
                shape=shape,
                descriptor=descriptor,
            )
        )
    if not all(np.isfinite([m.timestamp, m.ear, m.mar, m.yaw, m.aspect]).all() for m in out):
        raise ValueError("non-finite measurement")
    return out
