"""Measuring the matcher on a labelled photo set: error rates, thresholds, timings.

A set is a folder laid out `identity/image.jpg` or a manifest TSV with `path` and
`identity` columns (paths relative to the manifest's folder). Identities starting with
`MULTI:` (several faces) or `VIDEO:` are skipped, and byte-identical copies counted once.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import itertools
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biometrics.errors import BiometricsError
from biometrics.image import load_image
from biometrics.quality import assess
from biometrics.templates import DEFAULT_THRESHOLDS, Thresholds, encode

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SKIPPED_PREFIXES = ("MULTI:", "VIDEO:")

DEMOGRAPHIC_WARNING = (
    "The shared test set has almost no East Asian and no elderly faces, unlike the "
    "product's users; matchers err more for them. These figures are a starting point only: "
    "each county must recalibrate on its own enrolment photos (`nongbao faces calibrate`)."
)


@dataclass(frozen=True, slots=True)
class Sample:
    path: Path
    identity: str


@dataclass
class Encoded:
    sample: Sample
    template: np.ndarray | None  # None: failure to acquire (no face or unreadable)
    enrol_ok: bool
    error: str | None = None
    refusals: tuple[str, ...] = ()  # quality-gate reason codes when enrol_ok is False


@dataclass
class Timings:
    stages: dict[str, list[float]] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages.setdefault(name, []).append(time.perf_counter() - start)

    def medians_ms(self) -> dict[str, float]:
        return {k: round(statistics.median(v) * 1000, 1) for k, v in self.stages.items() if v}


@dataclass(frozen=True)
class PairScores:
    genuine: np.ndarray  # distances of same-identity pairs
    impostor: np.ndarray  # distances of different-identity pairs
    # gallery mode: each genuine comparison's weight (1 / the probe's galleries), so that
    # every probe photo counts once in FNMR however many galleries its identity allows
    genuine_weight: np.ndarray | None = None
    genuine_probes: int | None = None  # photos probed against their own galleries
    # per distinct (probe photo, other identity) pair: its nearest gallery's distance
    impostor_unit_min: np.ndarray | None = None


def load_samples(source: Path) -> list[Sample]:
    """The images of a folder or manifest, deduplicated by content."""
    if not source.exists():
        raise BiometricsError(f"no such file or folder: {source}")
    samples = _from_manifest(source) if source.is_file() else _from_folder(source)
    return _dedupe(samples)


def encode_samples(
    samples: list[Sample], timings: Timings, progress: Callable[[], None] | None = None
) -> list[Encoded]:
    out = []
    for sample in samples:
        out.append(_encode_one(sample, timings))
        if progress:
            progress()
    return out


def select(
    samples: list[Sample],
    source: Path,
    *,
    only: tuple[str, ...] = (),
    skip: tuple[str, ...] = (),
    fold: tuple[int, int] | None = None,
) -> list[Sample]:
    """Identity-disjoint subsets, for calibrating on some people and evaluating on others.

    only/skip: shell patterns matched against each photo's path relative to the set's folder
    (e.g. `lfw/*`); fold (i, n): identities sorted by name, every n-th from the i-th (0-based),
    so the n folds are disjoint and together the whole set."""
    base = source.parent if source.is_file() else source

    def rel(sample: Sample) -> str:
        try:
            return sample.path.relative_to(base).as_posix()
        except ValueError:
            return sample.path.as_posix()

    chosen = [
        s
        for s in samples
        if (not only or any(fnmatch.fnmatch(rel(s), p) for p in only))
        and not any(fnmatch.fnmatch(rel(s), p) for p in skip)
    ]
    if fold is not None:
        index, count = fold
        if not 0 <= index < count:
            raise BiometricsError(f"fold {index}/{count}: need 0 <= i < n")
        names = sorted({s.identity for s in chosen})
        keep = set(names[index::count])
        chosen = [s for s in chosen if s.identity in keep]
    return chosen


def pair_scores(
    encoded: list[Encoded], *, max_impostor_pairs: int = 20_000_000, seed: int = 0
) -> PairScores:
    """Distances of all pairs of acquired templates, split into genuine and impostor.

    Computed in row blocks from the Gram matrix, so memory stays bounded for a county's
    tens of thousands of photos; beyond max_impostor_pairs the impostor pairs are a
    seeded uniform sample (genuine pairs are always all kept).
    """
    usable = [e for e in encoded if e.template is not None]
    n = len(usable)
    if n < 2:
        return PairScores(np.empty(0), np.empty(0))
    matrix = np.stack([e.template for e in usable if e.template is not None]).astype(np.float64)
    _, labels = np.unique([e.sample.identity for e in usable], return_inverse=True)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    keep_rate = min(1.0, max_impostor_pairs / (n * (n - 1) / 2))
    rng = np.random.default_rng(seed)
    genuine: list[np.ndarray] = []
    impostor: list[np.ndarray] = []
    block = max(1, 4_000_000 // n)
    for start in range(0, n - 1, block):
        rows = np.arange(start, min(start + block, n - 1))
        d2 = norms[rows, None] + norms[None, :] - 2.0 * (matrix[rows] @ matrix.T)
        dists = np.sqrt(np.maximum(d2, 0.0))
        upper = np.arange(n)[None, :] > rows[:, None]
        same = labels[rows, None] == labels[None, :]
        genuine.append(dists[upper & same])
        other = dists[upper & ~same]
        impostor.append(other if keep_rate >= 1.0 else other[rng.random(other.size) < keep_rate])
    return PairScores(
        genuine=np.sort(np.concatenate(genuine)), impostor=np.sort(np.concatenate(impostor))
    )


def gallery_scores(
    encoded: list[Encoded],
    size: int,
    *,
    draws: int | None = 5,
    seed: int = 0,
    max_galleries: int = 1000,
) -> PairScores:
    """One photo against a `size`-photo gallery (its mean template, biometrics.gallery).

    Genuine: each acquired photo against galleries drawn from the other enrolment-quality
    photos of its identity. Impostor: each acquired photo against the galleries of every
    other identity. Identities with fewer than size + 1 usable photos only serve as impostor
    probes. draws=N: N seeded galleries per probe and per identity. draws=None: EVERY
    size-photo gallery (up to max_galleries per probe and per identity, seeded beyond), as
    many impostor comparisons as the set has; each genuine comparison is then weighted
    1/(its probe's galleries), so each probe photo counts once in FNMR.
    """
    if size < 1:
        raise BiometricsError("a gallery holds at least one photo")
    rng = np.random.default_rng(seed)
    usable = [e for e in encoded if e.template is not None]
    by_identity: dict[str, list[Encoded]] = {}
    for e in usable:
        by_identity.setdefault(e.sample.identity, []).append(e)
    genuine: list[float] = []
    weights: list[float] = []
    probes = 0
    galleries: dict[str, np.ndarray] = {}
    for identity, members in by_identity.items():
        enrollable = [m for m in members if m.enrol_ok]
        for probe in members:
            pool = [m for m in enrollable if m is not probe]
            chosen = _galleries(pool, size, draws, max_galleries, rng)
            if chosen:
                genuine.extend(_to_mean(probe, g) for g in chosen)
                weights.extend([1.0 / len(chosen)] * len(chosen))
                probes += 1
        if len(enrollable) >= size:
            drawn = _galleries(enrollable, size, draws, max_galleries, rng)
            galleries[identity] = np.stack([_mean(g) for g in drawn])
    impostor: list[np.ndarray] = []
    nearest: list[float] = []
    for probe in usable:
        assert probe.template is not None
        for identity, means in galleries.items():
            if identity != probe.sample.identity:
                dists = np.linalg.norm(means - probe.template, axis=1)
                impostor.append(dists)
                nearest.append(float(dists.min()))
    order = np.argsort(genuine, kind="stable")
    return PairScores(
        np.array(genuine)[order],
        np.sort(np.concatenate(impostor)) if impostor else np.empty(0),
        genuine_weight=np.array(weights)[order] if draws is None else None,
        genuine_probes=probes,
        impostor_unit_min=np.array(nearest),
    )


def _galleries(
    pool: list[Encoded], size: int, draws: int | None, cap: int, rng: np.random.Generator
) -> list[list[Encoded]]:
    if draws is not None:
        return _draw(pool, size, draws, rng)
    if len(pool) < size:
        return []
    if math.comb(len(pool), size) <= cap:
        return [list(c) for c in itertools.combinations(pool, size)]
    return _draw(pool, size, cap, rng)


def _draw(
    pool: list[Encoded], size: int, draws: int, rng: np.random.Generator
) -> list[list[Encoded]]:
    if len(pool) < size:
        return []
    if len(pool) == size:
        return [pool]
    return [[pool[i] for i in rng.choice(len(pool), size, replace=False)] for _ in range(draws)]


def _mean(chosen: list[Encoded]) -> np.ndarray:
    return np.mean([c.template for c in chosen if c.template is not None], axis=0)


def _to_mean(probe: Encoded, chosen: list[Encoded]) -> float:
    assert probe.template is not None
    return float(np.linalg.norm(probe.template - _mean(chosen)))


def gate_report(encoded: list[Encoded], pass_at: float) -> dict[str, object]:
    """How well the matcher does on the photos the enrolment gate refuses, per reason.

    Match quality of a photo: its distance to the mean of its identity's other accepted
    photos (leave one out). A reason whose photos match as well as accepted ones refuses
    nothing that matters; one whose photos match badly earns its place in the gate.
    """
    usable = [e for e in encoded if e.template is not None]
    quality: dict[int, float] = {}
    for n, e in enumerate(usable):
        others = [
            o
            for o in usable
            if o is not e and o.enrol_ok and o.sample.identity == e.sample.identity
        ]
        if others:
            quality[n] = _to_mean(e, others)
    groups: dict[str, list[float]] = {"accepted": []}
    for n, e in enumerate(usable):
        if n not in quality:
            continue
        for key in e.refusals if not e.enrol_ok else ("accepted",):
            groups.setdefault(key, []).append(quality[n])
    refused = sum(not e.enrol_ok for e in encoded)
    return {
        "photos": len(encoded),
        "refused": refused,
        "refused_share": round(refused / len(encoded), 4) if encoded else None,
        "match_quality": {
            key: {
                "photos": len(values),
                "median_distance": round(float(np.median(values)), 4),
                "max_distance": round(float(np.max(values)), 4),
                "over_pass": round(float(np.mean(np.array(values) > pass_at)), 4),
            }
            for key, values in groups.items()
            if values
        },
    }


def rates(scores: PairScores, thresholds: Thresholds) -> dict[str, float | None]:
    """FMR/FNMR at the pass and refer thresholds.

    fmr_at_refer counts impostors passed or referred; fnmr_at_refer counts genuine pairs
    failed outright (a referral still reaches a person, a failure does not).
    """
    g, i, w = scores.genuine, scores.impostor, scores.genuine_weight
    return {
        "fmr_at_pass": _share(i <= thresholds.pass_at, i),
        "fnmr_at_pass": _share(g > thresholds.pass_at, g, w),
        "fmr_at_refer": _share(i <= thresholds.refer_at, i),
        "fnmr_at_refer": _share(g > thresholds.refer_at, g, w),
    }


def upper_bound(errors: int, trials: int, confidence: float = 0.95) -> float | None:
    """One-sided Clopper-Pearson upper confidence bound on a rate seen as errors/trials
    (with no errors about 3/trials at 95%: the rule of three). It assumes independent
    trials: comparisons that share a probe photo or a gallery are not, so the bound on
    comparisons is optimistic; the one on distinct (probe, identity) pairs less so."""
    if trials <= 0:
        return None
    if errors >= trials:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, errors + 1, trials - errors))


def fmr_bounds(scores: PairScores, thresholds: Thresholds) -> dict[str, object]:
    """Counts behind FMR at the pass line and their 95% upper bounds."""
    errors = int((scores.impostor <= thresholds.pass_at).sum())
    out: dict[str, object] = {
        "impostor_comparisons": int(scores.impostor.size),
        "false_matches_at_pass": errors,
        "fmr_at_pass_upper95": _round6(upper_bound(errors, int(scores.impostor.size))),
    }
    if scores.impostor_unit_min is not None:
        units = int(scores.impostor_unit_min.size)
        matched = int((scores.impostor_unit_min <= thresholds.pass_at).sum())
        out["impostor_probe_identity_pairs"] = units
        out["probe_identity_pairs_matched_at_pass"] = matched
        out["fmr_at_pass_upper95_probe_identity_pairs"] = _round6(upper_bound(matched, units))
    if scores.genuine_probes is not None:
        out["genuine_probes"] = scores.genuine_probes
    return out


def _round6(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def threshold_for_fmr(impostor: np.ndarray, target_fmr: float) -> float | None:
    """The largest distance threshold whose false match rate is at most target_fmr."""
    if impostor.size == 0:
        return None
    allowed = int(np.floor(target_fmr * impostor.size))  # impostor pairs we may accept
    ordered = np.sort(impostor)
    if allowed >= ordered.size:
        return float(ordered[-1])
    # accept strictly fewer than ordered[allowed]: stop just below it
    return float(np.nextafter(ordered[allowed], -np.inf))


def threshold_for_fnmr(
    genuine: np.ndarray, target_fnmr: float, weight: np.ndarray | None = None
) -> float | None:
    """The smallest threshold that rejects at most target_fnmr of genuine pairs (weighted:
    of the genuine weight; `genuine` sorted ascending)."""
    if genuine.size == 0:
        return None
    if weight is None:
        return float(np.quantile(genuine, 1.0 - target_fnmr, method="higher"))
    # rejected share at threshold genuine[k]: the weight above it
    above = 1.0 - np.cumsum(weight) / weight.sum()
    ok = np.nonzero(above <= target_fnmr + 1e-12)[0]
    return float(genuine[ok[0]]) if ok.size else float(genuine[-1])


def propose_thresholds(
    scores: PairScores, target_fmr: float, target_fnmr: float = 0.01, margin: float = 1.0
) -> Thresholds | None:
    """pass_at for the target FMR; refer_at so that few genuine pairs fail outright, but
    never letting more than 10x the target FMR of impostors reach staff review.

    margin > 1 aims that much below the target on the calibration set: a county's few
    hundred people under-sample the impostor tail (measured: pass_at calibrated at FMR 0.1%
    on 19 identities let 0.5% of held-out impostors pass; at 0.01% none did)."""
    aim = target_fmr / max(1.0, margin)
    pass_at = threshold_for_fmr(scores.impostor, aim)
    if pass_at is None or pass_at <= 0:
        return None
    refer_cap = threshold_for_fmr(scores.impostor, min(1.0, aim * 10)) or pass_at
    refer_goal = threshold_for_fnmr(scores.genuine, target_fnmr) or pass_at
    refer_at = max(pass_at, min(refer_goal, refer_cap))
    # round down: rounding up could admit the very impostor pair the threshold excludes
    return Thresholds(pass_at=_floor4(pass_at), refer_at=_floor4(refer_at))


def propose_gallery_thresholds(
    scores: PairScores,
    target_fmr: float = 0.001,
    target_fnmr: float = 0.01,
    target_fnmr_pass: float = 0.05,
    margin: float = 10.0,
    headroom: float = 4.0,
) -> Thresholds | None:
    """Gallery thresholds (decisions against a K-photo gallery's mean), in steps of 0.01.

    pass_at: the lowest line that passes all but target_fnmr_pass / 2 of genuine photos,
    never above the line that keeps impostors within target_fmr / margin; rounded DOWN.
    Passing no more than needed leaves the gap between genuine and impostor distances as
    the margin against fraud: impostor tails differ between groups of people (measured on
    identity-disjoint halves of the shared set: the nearest impostor mean at 0.56 in one,
    0.60 in the other), so a pass line pushed up to one group's impostors lets another's in.
    refer_at: the line that fails outright no more than target_fnmr / headroom of genuine
    photos, rounded UP (the genuine tail of people not in the set was 2-4x heavier: a
    county's few hundred people under-sample it), and no lower than where the set's
    impostors begin (the target_fmr point of their distances, rounded down): closer than
    that, an outright failure would hit a genuine person more often than an impostor.
    Measured on identity-disjoint halves of the shared set, a refer line learnt from one
    half's genuine tail alone (0.54) failed 2-3% of the other half's genuine photos; with
    the impostor floor it failed none. At least pass_at. Impostors beyond pass_at but within
    refer_at go to staff review: the figures report how many (fmr_at_refer)."""
    aim = target_fmr / max(1.0, margin)
    fraud_cap = threshold_for_fmr(scores.impostor, aim)
    needed = threshold_for_fnmr(scores.genuine, target_fnmr_pass / 2, scores.genuine_weight)
    if fraud_cap is None or needed is None:
        return None
    pass_at = math.floor(min(fraud_cap, needed) * 100) / 100  # down: never past fraud_cap
    if pass_at <= 0:
        return None
    refer_goal = threshold_for_fnmr(
        scores.genuine, target_fnmr / max(1.0, headroom), scores.genuine_weight
    )
    impostors_begin = threshold_for_fmr(scores.impostor, target_fmr) or pass_at
    refer_at = max(
        pass_at,
        math.ceil((refer_goal or pass_at) * 100 - 1e-9) / 100,
        math.floor(impostors_begin * 100) / 100,
    )
    return Thresholds(pass_at=round(pass_at, 2), refer_at=round(refer_at, 2))


def _floor4(value: float) -> float:
    return math.floor(value * 10_000) / 10_000


def minimum_impostor_pairs(target_fmr: float) -> int:
    """Rule of three: with no errors in n trials the 95% upper bound on the rate is 3/n."""
    return int(np.ceil(3 / target_fmr))


def roc_points(scores: PairScores, steps: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, fmr, fnmr) at every observed distance (thinned to `steps` points), so
    the DET curve shows each error the set can show."""
    both = np.unique(np.concatenate([[0.0], scores.genuine, scores.impostor]))
    grid = both if both.size <= steps else np.quantile(both, np.linspace(0, 1, steps))
    fmr = np.searchsorted(scores.impostor, grid, side="right") / max(1, scores.impostor.size)
    fnmr = 1 - np.searchsorted(scores.genuine, grid, side="right") / max(1, scores.genuine.size)
    return grid, fmr, fnmr


def summary(
    encoded: list[Encoded],
    scores: PairScores,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    target_fmr: float = 0.001,
) -> dict[str, object]:
    n = len(encoded)
    acquired = sum(e.template is not None for e in encoded)
    return {
        "images": n,
        "identities": len({e.sample.identity for e in encoded}),
        "genuine_pairs": int(scores.genuine.size),
        "impostor_pairs": int(scores.impostor.size),
        "pass_threshold": thresholds.pass_at,
        "refer_threshold": thresholds.refer_at,
        **rates(scores, thresholds),
        **fmr_bounds(scores, thresholds),
        "target_fmr": target_fmr,
        "threshold_at_target_fmr": _floor_or_none(threshold_for_fmr(scores.impostor, target_fmr)),
        "fta": round((n - acquired) / n, 4) if n else None,
        "fte": round(sum(not e.enrol_ok for e in encoded) / n, 4) if n else None,
        "fte_reasons": dict(Counter(c for e in encoded for c in e.refusals).most_common()),
        "genuine_distance": _stats(scores.genuine),
        "impostor_distance": _stats(scores.impostor),
        "failed_to_acquire": [str(e.sample.path) for e in encoded if e.template is None],
        "warning": DEMOGRAPHIC_WARNING,
    }


def _encode_one(sample: Sample, timings: Timings) -> Encoded:
    try:
        with timings.stage("load"):
            image = load_image(sample.path)
        with timings.stage("quality_enrol"):
            report = assess(image, purpose="enrol")
        if report.box is None:
            return Encoded(sample, None, False, "no face", ("no_face",))
        with timings.stage("encode"):
            template = encode(image, report.box)
    except BiometricsError as exc:
        return Encoded(sample, None, False, str(exc))
    return Encoded(sample, template, report.ok, refusals=tuple(r.code for r in report.reasons))


def _from_manifest(manifest: Path) -> list[Sample]:
    base = manifest.parent
    with manifest.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"path", "identity"} <= set(rows[0]):
        raise BiometricsError(f"{manifest}: a manifest needs `path` and `identity` columns")
    return [
        Sample(base / row["path"], row["identity"])
        for row in rows
        if row["identity"] and not row["identity"].startswith(SKIPPED_PREFIXES)
    ]


def _from_folder(folder: Path) -> list[Sample]:
    return [
        Sample(path, path.parent.name)
        for path in sorted(folder.glob("*/*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
        and not path.parent.name.startswith(SKIPPED_PREFIXES)
    ]


def _dedupe(samples: list[Sample]) -> list[Sample]:
    """Byte-identical copies would inflate genuine pairs with distance 0."""
    seen: set[str] = set()
    unique = []
    for sample in samples:
        try:
            digest = hashlib.sha1(sample.path.read_bytes()).hexdigest()[:12]
        except OSError as exc:
            raise BiometricsError(f"cannot read {sample.path}: {exc.strerror}") from exc
        if digest not in seen:
            seen.add(digest)
            unique.append(sample)
    return unique


def _share(mask: np.ndarray, of: np.ndarray, weight: np.ndarray | None = None) -> float | None:
    if not of.size:
        return None
    if weight is not None:
        return round(float(weight[mask].sum() / weight.sum()), 6)
    return round(float(mask.sum()) / of.size, 6)


def _floor_or_none(value: float | None) -> float | None:
    return None if value is None else _floor4(value)


def _stats(values: np.ndarray) -> dict[str, float] | None:
    if values.size == 0:
        return None
    return {
        "min": round(float(values.min()), 4),
        "median": round(float(np.median(values)), 4),
        "max": round(float(values.max()), 4),
    }
