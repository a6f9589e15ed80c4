"""The one door from the backend to the face engine (`biometrics`).

Everything the backend needs from face recognition goes through here, so a change of the
engine's API touches this file only. Templates cross this boundary as bytes (the engine's
versioned, checksummed format) and images as the uploaded bytes; errors become
backend.errors so the API answers problem+json.
"""

from __future__ import annotations

import dataclasses
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
    from biometrics.liveness import Action
    from biometrics.quality import QualityReport
    from biometrics.thresholds import GalleryThresholds

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
    # the gallery: one template and quality per accepted photo, `used` their indexes
    templates: list[bytes] = field(default_factory=list)
    qualities: list[float] = field(default_factory=list)
    used: list[int] = field(default_factory=list)


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
    photos = [
        {"ok": r.ok, "reasons": [x.as_dict() for x in r.reasons], "quality": _score(r)}
        for r in result.reports
    ]
    if not result.ok or result.template is None:
        return Enrolled(False, None, 0.0, [r.as_dict() for r in result.reasons], photos)
    qualities = [_score(result.reports[i]) for i in result.used]
    return Enrolled(
        True,
        templates.to_bytes(result.template),
        max(qualities, default=0.0),
        [],
        photos,
        [templates.to_bytes(t) for t in result.encodings],
        qualities,
        list(result.used),
    )


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
    """Measure the liveness frames now (the analysis is cached), before the caller opens a
    database transaction: on SQLite that transaction holds the write lock."""
    try:
        _analysis(evidence_json, frames)
    except (ValueError, TypeError, KeyError, IndexError, InvalidInput):
        return  # malformed evidence is judged (and refused) later


def distance(a: bytes, b: bytes) -> float:
    _, _, templates = _engine()
    return round(templates.distance(templates.from_bytes(a), templates.from_bytes(b)), 4)


def decide(dist: float, pass_at: float, refer_at: float) -> Decision:
    _, _, templates = _engine()
    result = templates.decide(dist, templates.Thresholds(pass_at=pass_at, refer_at=refer_at))
    return Decision(result.outcome, dist)


def gallery_mean(members: Sequence[bytes]) -> bytes:
    """The gallery's mean template (what a probe is compared with), as template bytes."""
    from biometrics import gallery

    _, _, templates = _engine()
    return templates.to_bytes(gallery.mean_template([templates.from_bytes(m) for m in members]))


@dataclass(frozen=True)
class GalleryDecision:
    outcome: str  # passed | referred | failed
    distance: float
    probe: int  # index of the probe that decided (the nearest)
    size: int
    pass_at: float  # the thresholds applied: those of the gallery's size
    refer_at: float


def decide_gallery(
    probes: Sequence[bytes], members: Sequence[bytes], thresholds: GalleryThresholds
) -> GalleryDecision:
    """The nearest probe against the gallery's mean, with the thresholds of the gallery's
    size (one template, two, three or more: the county's policy, `faces.thresholds`)."""
    from biometrics import gallery

    _, _, templates = _engine()
    found = gallery.match(
        [templates.from_bytes(p) for p in probes],
        [templates.from_bytes(m) for m in members],
        thresholds,
    )
    return GalleryDecision(
        found.result.outcome,
        found.result.distance,
        found.probe,
        found.size,
        found.thresholds.pass_at,
        found.thresholds.refer_at,
    )


def frame_probes(evidence_json: str, frames: Sequence[bytes], count: int) -> list[int]:
    """Indexes (into `frames`) of the sharpest frontal liveness frames, at most `count`: the
    server picks them itself from the frames the device signed, so the apps need no change.
    Frontal: a face found with |yaw| <= 15 degrees by the liveness analysis (cached)."""
    if count <= 0:
        return []
    try:
        stamped = _stamped_frames(evidence_json, len(frames))
        analysis = _analysis(evidence_json, frames)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, InvalidInput):
        return []
    measured = getattr(analysis, "measured", [])
    frontal: dict[int, float] = {}
    for (_, index), m in zip(stamped, measured, strict=False):
        if m.box is not None and abs(m.yaw) <= FRONTAL_YAW and index not in frontal:
            frontal[index] = _frame_sharpness(frames[index], m.box)
    return sorted(frontal, key=lambda i: -frontal[i])[:count]


FRONTAL_YAW = 15.0


def _frame_sharpness(data: bytes, box: object) -> float:
    from biometrics.detection import to_grey
    from biometrics.quality import sharpness

    image, _, _ = _engine()
    frame = _analysable(load(data, "frames"), image)
    left, top, right, bottom = box.as_tuple()  # type: ignore[attr-defined]
    crop = to_grey(frame)[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
    return sharpness(crop)


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


def new_challenge(
    ttl_seconds: float, now: float, count: int | None = None
) -> tuple[str, str, list[str]]:
    """(challenge_id, nonce, actions) from the engine's secure randomness; `count` actions
    (the county's policy), else 2 or 3 at random."""
    from biometrics import liveness

    c = liveness.issue_challenge(ttl=ttl_seconds, now=now, length=count)
    return c.challenge_id, c.nonce, list(c.actions)


MAX_ANALYSED_WIDTH = 640  # frames are measured at most this wide (CPU bound per request)
_analyses: OrderedDict[str, object] = OrderedDict()


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
    action_seconds: float | None = None,
) -> Liveness:
    """The liveness verdict the server measures itself on the uploaded frames.

    evidence_json: {"frames": [{"t": unix seconds, "sample": i, ...hints}, ...]}: one item
    per uploaded frame the device captured, in capture order; `sample` (or `index`) is the
    frame's position in the `frames` upload, `t` when it was captured. Anything else in an
    item (`ear`, `mar`, `yaw`, `shape`, `face`...) is a device hint: kept by the device's
    telemetry, never used here. Items without a frame are ignored. The frames must cover
    the whole challenge at 5 per second or more (docs/certification.md).
    """
    from biometrics import liveness

    _, _, templates = _engine()
    try:
        stamped = _stamped_frames(evidence_json, len(frames))
    except NoFrames:
        # measurements without pictures prove nothing; one picture is a still photo
        return Liveness(False, ["static_image" if len(set(frames)) <= 1 else "not_enough_frames"])
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return Liveness(False, ["bad_evidence"])
    try:
        analysis = _analysis(evidence_json, frames)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return Liveness(False, ["bad_evidence"])
    except InvalidInput:
        return Liveness(False, ["bad_evidence"])
    if any(t > now.timestamp() + CLOCK_SKEW_SECONDS for t, _ in stamped):
        # frames from the future were not filmed for this challenge
        return Liveness(False, ["bad_evidence"])
    challenge = liveness.Challenge(
        challenge_id,
        nonce,
        cast("tuple[Action, ...]", tuple(actions)),  # stored when issued from ACTIONS
        issued_at.timestamp(),
        expires_at.timestamp(),
    )
    pairs = [(t, np.zeros((1, 1, 3), np.uint8)) for t, _ in stamped]  # pictures are analysed
    policy = liveness.DEFAULT_POLICY
    if action_seconds is not None:  # the county's time per action (policy face.action_seconds)
        policy = dataclasses.replace(policy, action_timeout=float(action_seconds))
    verdict = liveness.verify_frames(
        challenge,
        pairs,
        now.timestamp(),
        policy=policy,
        reference=templates.from_bytes(reference),
        analysis=analysis,  # type: ignore[arg-type]
    )
    return Liveness(verdict.result.passed, [r.code for r in verdict.result.reasons])


def _stamped_frames(evidence_json: str, count: int) -> list[tuple[float, int]]:
    """(timestamp, index into the uploaded frames) of each evidence item with a frame."""
    raw = json.loads(evidence_json or "{}")
    items = raw.get("frames") if isinstance(raw, dict) else None
    if not isinstance(items, list) or len(items) > 2000:
        raise ValueError("no frames")
    out: list[tuple[float, int]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a frame item is not an object")
        index = item.get("sample", item.get("index"))
        if index is None:
            continue  # a measurement without a picture: a hint only
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise ValueError("frame index out of range")
        stamp = item.get("t")
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise ValueError("no timestamp")
        if not np.isfinite(float(stamp)):
            raise ValueError("non-finite timestamp")
        out.append((float(stamp), index))
    if not out:
        raise NoFrames("no evidence item names an uploaded frame")
    return out


class NoFrames(ValueError):
    """The evidence names no uploaded frame."""


def _analysis(evidence_json: str, frames: Sequence[bytes]) -> object:
    """The challenge-independent measurement of the frames the evidence names, in its
    order; cached by content so the work happens once per submission."""
    from biometrics import liveness

    image, _, _ = _engine()
    stamped = _stamped_frames(evidence_json, len(frames))
    digests = [hashlib.sha256(frames[i]).hexdigest() for _, i in stamped]
    key = hashlib.sha256(",".join(digests).encode()).hexdigest()
    with _cache_lock:
        if key in _analyses:
            _analyses.move_to_end(key)
            return _analyses[key]
    decoded: dict[int, np.ndarray] = {}
    for _, i in stamped:
        if i not in decoded:
            decoded[i] = _analysable(load(frames[i], "frames"), image)
    found = liveness.analyse_frames([decoded[i] for _, i in stamped])
    with _cache_lock:
        _analyses[key] = found
        while len(_analyses) > 8:
            _analyses.popitem(last=False)
    return found


def _analysable(frame: np.ndarray, image) -> np.ndarray:  # type: ignore[no-untyped-def]
    width = frame.shape[1]
    if width <= MAX_ANALYSED_WIDTH:
        return frame
    from biometrics.detection import resize

    return resize(frame, MAX_ANALYSED_WIDTH / width)
