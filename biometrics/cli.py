"""`nongbao faces ...`: evaluate and calibrate the matcher, benchmark the engine."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from biometrics import evaluation as ev
from biometrics.errors import BiometricsError
from biometrics.templates import Thresholds
from biometrics.thresholds import DEFAULT_GALLERY_BY_SIZE, GalleryThresholds

if TYPE_CHECKING:
    from rich.console import Console

SHARED_FACES = Path(__file__).resolve().parents[2] / "shared" / "faces"
DEFAULT_BENCH_IMAGE = SHARED_FACES / "lfw/Colin_Powell/Colin_Powell_0007.jpg"
DEFAULT_BENCH_VIDEO = SHARED_FACES / "face_recognition/examples/short_hamilton_clip.mp4"


# attack species that need the backend (registered by backend.pad_api, which biometrics/
# never imports): name -> function(photos as bytes, seed) -> list of attempt results
API_SPECIES: dict[str, Callable[..., list[dict[str, Any]]]] = {}

# `calibrate --record` stores the figures in the county's database: the backend registers
# the recorder (backend.pad_api), which returns the calibration's id
RECORDERS: dict[str, Callable[[dict[str, Any]], str]] = {}

# `evaluate` defaults to the county's thresholds for the gallery's size: the backend registers
# its policy's (backend.pad_api); without it, the engine's defaults (the default policy's)
POLICY_THRESHOLDS: dict[str, Callable[[], GalleryThresholds]] = {}


@click.group()
def faces() -> None:
    """The face engine: evaluate, calibrate, bench."""


def _scores(
    path: Path, gallery: int | None = None, subset: dict[str, Any] | None = None
) -> tuple[list[ev.Encoded], ev.PairScores, ev.Timings]:
    from rich.progress import Progress

    try:
        samples = ev.select(ev.load_samples(path), path, **(subset or {}))
    except BiometricsError as exc:
        raise click.ClickException(str(exc)) from exc
    if not samples:
        raise click.ClickException(f"{path}: no images found (need identity/image or a manifest)")
    timings = ev.Timings()
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("encoding faces", total=len(samples))
        encoded = ev.encode_samples(samples, timings, lambda: progress.advance(task))
    with timings.stage("pairs"):
        if gallery is None:
            scores = ev.pair_scores(encoded)
        else:
            try:
                # every gallery of every identity: as many impostor comparisons as the set has
                scores = ev.gallery_scores(encoded, gallery, draws=None)
            except BiometricsError as exc:
                raise click.ClickException(str(exc)) from exc
    if scores.genuine.size == 0 or scores.impostor.size == 0:
        raise click.ClickException(
            f"{path}: need at least two identities with {(gallery or 1) + 1} usable photos each"
        )
    return encoded, scores, timings


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


GALLERY_OPTION = click.option(
    "--gallery",
    type=click.IntRange(1, 10),
    default=None,
    help="one photo against a K-photo gallery (its mean template) instead of photo pairs",
)


def _subset_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option(
        "--fold",
        default=None,
        metavar="I/N",
        help="identity-disjoint fold: identities sorted by name, every N-th from the I-th "
        "(0-based), e.g. 0/2 and 1/2 are two halves",
    )(command)
    command = click.option(
        "--skip", multiple=True, metavar="GLOB", help="leave out photos whose path matches"
    )(command)
    return click.option(
        "--only",
        multiple=True,
        metavar="GLOB",
        help="only photos whose path (relative to the set's folder) matches, e.g. 'lfw/*'",
    )(command)


def _subset(only: tuple[str, ...], skip: tuple[str, ...], fold: str | None) -> dict[str, Any]:
    parsed = None
    if fold is not None:
        try:
            index, count = (int(x) for x in fold.split("/"))
        except ValueError as exc:
            raise click.ClickException(f"--fold {fold}: write I/N, e.g. 0/2") from exc
        parsed = (index, count)
    return {"only": only, "skip": skip, "fold": parsed}


def _subset_fields(subset: dict[str, Any]) -> dict[str, Any]:
    fold = subset["fold"]
    return {
        "subset": {
            "only": list(subset["only"]),
            "skip": list(subset["skip"]),
            "fold": f"{fold[0]}/{fold[1]}" if fold else None,
        }
    }


def goals(result: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's goals for a gallery decision, each met or not on this set."""

    def at_most(key: str, limit: float) -> bool | None:
        value = result.get(key)
        return None if value is None else bool(value <= limit)

    return {
        "fmr_at_pass<=0.1%": at_most("fmr_at_pass", 0.001),
        "fnmr_at_pass<=5%": at_most("fnmr_at_pass", 0.05),
        "fnmr_at_refer<=1%": at_most("fnmr_at_refer", 0.01),
    }


@faces.command()
@click.argument("path", type=click.Path(path_type=Path))
@GALLERY_OPTION
@_subset_options
@click.option(
    "--pass-at", type=float, default=None, help="default: the policy's for the gallery's size"
)
@click.option("--refer-at", type=float, default=None)
@click.option("--target-fmr", type=float, default=0.001, show_default=True)
@click.option("--plot", type=click.Path(path_type=Path), help="write a ROC/DET plot (PNG)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object on stdout")
def evaluate(
    path: Path,
    gallery: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    fold: str | None,
    pass_at: float | None,
    refer_at: float | None,
    target_fmr: float,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Error rates of a labelled photo set (folder or manifest TSV): all photo pairs, or
    with --gallery K one photo against K-photo galleries."""
    if not 0 < target_fmr < 1:
        raise click.ClickException("--target-fmr must be between 0 and 1")
    default = _default_thresholds(gallery)
    thresholds = _thresholds(pass_at or default.pass_at, refer_at or default.refer_at)
    subset = _subset(only, skip, fold)
    encoded, scores, timings = _scores(path, gallery, subset)
    result = ev.summary(encoded, scores, thresholds, target_fmr)
    result.update(_gallery_fields(gallery, encoded, thresholds))
    result.update(_subset_fields(subset))
    result["goals"] = goals(result)
    result["timing_ms"] = timings.medians_ms()
    if plot:
        _plot(scores, thresholds, plot)
        result["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    _print_evaluation(result)


def _default_thresholds(gallery: int | None) -> Thresholds:
    """The pair the county's policy applies to a gallery of this size (pairs mode: one)."""
    policy = POLICY_THRESHOLDS.get("policy")
    return (policy() if policy else DEFAULT_GALLERY_BY_SIZE).for_size(gallery or 1)


def _gallery_fields(
    gallery: int | None, encoded: list[ev.Encoded], thresholds: Thresholds
) -> dict[str, Any]:
    return {
        "mode": "gallery_mean" if gallery else "pairs",
        "gallery": gallery or 1,
        "gate": ev.gate_report(encoded, thresholds.pass_at),
    }


@faces.command()
@click.argument("path", type=click.Path(path_type=Path))
@GALLERY_OPTION
@_subset_options
@click.option("--target-fmr", type=float, default=0.001, show_default=True)
@click.option(
    "--target-fnmr-pass",
    type=float,
    default=0.05,
    show_default=True,
    help="with --gallery: share of genuine photos allowed not to pass (sent to staff)",
)
@click.option(
    "--target-fnmr",
    type=float,
    default=0.01,
    show_default=True,
    help="share of genuine photos allowed to fail outright (not even referred)",
)
@click.option(
    "--margin",
    type=click.FloatRange(min=1.0),
    default=None,
    help="aim this many times below --target-fmr on the set (default: 10 with --gallery, "
    "1 without)",
)
@click.option("--record", is_flag=True, help="store the figures as the county's calibration")
@click.option("--json", "as_json", is_flag=True)
def calibrate(
    path: Path,
    gallery: int | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    fold: str | None,
    target_fmr: float,
    target_fnmr_pass: float,
    target_fnmr: float,
    margin: float | None,
    record: bool,
    as_json: bool,
) -> None:
    """Propose pass/refer thresholds for a county's own labelled photos (with --gallery K,
    for decisions against K-photo galleries); --record stores them with their figures."""
    if not 0 < target_fmr < 1 or not 0 < target_fnmr < 1:
        raise click.ClickException("--target-fmr and --target-fnmr must be between 0 and 1")
    if record and "calibration" not in RECORDERS:
        raise click.ClickException("--record needs the backend (run `nongbao faces ...`)")
    subset = _subset(only, skip, fold)
    encoded, scores, _ = _scores(path, gallery, subset)
    margin = margin or (10.0 if gallery else 1.0)
    if gallery:
        proposed = ev.propose_gallery_thresholds(
            scores, target_fmr, target_fnmr, target_fnmr_pass, margin
        )
    else:
        proposed = ev.propose_thresholds(scores, target_fmr, target_fnmr, margin)
    if proposed is None:
        raise click.ClickException("cannot reach that FMR on this set (impostor distances near 0)")
    needed = ev.minimum_impostor_pairs(target_fmr)
    result = {
        "source": str(path),
        "target_fmr": target_fmr,
        "target_fnmr": target_fnmr,
        "margin": margin,
        "proposed": {"pass_at": proposed.pass_at, "refer_at": proposed.refer_at},
        **ev.summary(encoded, scores, proposed, target_fmr),
        **_gallery_fields(gallery, encoded, proposed),
        "impostor_pairs_needed": needed,
        "enough_pairs": bool(scores.impostor.size >= needed),
        **_subset_fields(subset),
    }
    if gallery:
        # rule of three on the genuine side: FNMR@refer 1% needs >= 300 probe photos
        probes_needed = ev.minimum_impostor_pairs(target_fnmr)
        result["genuine_probes_needed"] = probes_needed
        result["enough_genuine_probes"] = bool((scores.genuine_probes or 0) >= probes_needed)
    result["goals"] = goals(result)
    if record:
        result["calibration_id"] = RECORDERS["calibration"](result)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"proposed thresholds: pass_at={proposed.pass_at}  refer_at={proposed.refer_at}")
    _print_evaluation(result)
    if record:
        click.echo(f"recorded as calibration {result['calibration_id']}")
    if result.get("enough_genuine_probes") is False:
        click.echo(
            f"CAUTION: {scores.genuine_probes} genuine probe photos cannot demonstrate FNMR "
            f"{target_fnmr} at the refer line; at least {result['genuine_probes_needed']} are "
            "needed (rule of three). Add more photos per person."
        )
    if not result["enough_pairs"]:
        click.echo(
            f"CAUTION: {scores.impostor.size} impostor pairs cannot demonstrate FMR {target_fmr}; "
            f"at least {needed} are needed (rule of three). Add more people."
        )


@faces.command()
@click.option(
    "--image",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="a face photo for the frame and verification timings",
)
@click.option(
    "--sizes",
    default="10000,100000,1000000",
    show_default=True,
    help="1:N index sizes, comma-separated",
)
@click.option(
    "--video",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="a video clip for the tracker's frame rate on real footage",
)
@click.option("--json", "as_json", is_flag=True)
def bench(image: Path | None, sizes: str, video: Path | None, as_json: bool) -> None:
    """Median timings: preview frame, one verification, 1:N search."""
    from biometrics import bench as b
    from biometrics.image import load_image
    from biometrics.templates import encode

    path = image or DEFAULT_BENCH_IMAGE
    try:
        photo = load_image(path)
        reference = encode(photo)
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except (BiometricsError, ValueError) as exc:
        raise click.ClickException(f"bench: {exc}") from exc
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        # the machine may be shared: a busy CPU slows every figure below
        "load_average_1min": round(os.getloadavg()[0], 2),
        "image": str(path),
        **b.bench_frame(photo),
        **b.bench_verify(photo, reference),
        **b.bench_search(size_list),
    }
    clip = video or (DEFAULT_BENCH_VIDEO if DEFAULT_BENCH_VIDEO.is_file() else None)
    if clip is not None:
        result.update({"video": str(clip), **b.bench_video(clip)})
    if as_json:
        click.echo(json.dumps(result))
        return
    for key, value in result.items():
        click.echo(f"{key:34s} {value}")


def _thresholds(pass_at: float, refer_at: float) -> Thresholds:
    try:
        return Thresholds(pass_at, refer_at)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _print_evaluation(r: dict[str, Any]) -> None:
    lines = [
        f"images {r['images']}  identities {r['identities']}  "
        f"genuine pairs {r['genuine_pairs']}  impostor pairs {r['impostor_pairs']}",
        f"thresholds: pass <= {r['pass_threshold']}  refer <= {r['refer_threshold']}",
        f"at pass:  FMR {_pct(r['fmr_at_pass'])}  FNMR {_pct(r['fnmr_at_pass'])}",
        f"at refer: FMR {_pct(r['fmr_at_refer'])} (impostors passed or referred)  "
        f"FNMR {_pct(r['fnmr_at_refer'])} (genuine failed outright)",
        f"threshold for FMR {r['target_fmr']}: {r['threshold_at_target_fmr']}",
        f"false matches at pass: {r['false_matches_at_pass']} of {r['impostor_comparisons']} "
        f"comparisons, FMR <= {_pct(r['fmr_at_pass_upper95'])} (95% upper bound)",
        f"failure to enrol {_pct(r['fte'])} {r.get('fte_reasons', {})}  "
        f"failure to acquire {_pct(r['fta'])}",
        f"genuine distances {r['genuine_distance']}",
        f"impostor distances {r['impostor_distance']}",
    ]
    if "timing_ms" in r:
        lines.append(f"median ms per image: {r['timing_ms']}")
    lines.append(f"WARNING: {r['warning']}")
    click.echo("\n".join(lines))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.2f}%"


def _plot(scores: ev.PairScores, thresholds: Thresholds, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid, fmr, fnmr = ev.roc_points(scores)
    fig, (roc, det) = plt.subplots(1, 2, figsize=(11, 4.5))
    roc.plot(grid, fmr, label="FMR (impostors accepted)")
    roc.plot(grid, fnmr, label="FNMR (genuine rejected)")
    for value, name in ((thresholds.pass_at, "pass"), (thresholds.refer_at, "refer")):
        roc.axvline(value, linestyle="--", color="grey")
        roc.text(value, 0.95, f" {name}", color="grey")
    roc.set_xlabel("distance threshold")
    roc.set_ylabel("rate")
    roc.set_title("error rates by threshold")
    roc.legend(loc="center right")
    floor = 1 / max(2, scores.impostor.size * 10)
    det.loglog(np.maximum(fmr, floor), np.maximum(fnmr, floor))
    det.set_xlabel("FMR")
    det.set_ylabel("FNMR")
    det.set_title("DET")
    det.grid(True, which="both", alpha=0.3)
    fig.suptitle("shared set: almost no East Asian or elderly faces; recalibrate per county")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


@faces.command("pad-evaluate")
@click.option(
    "--faces-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=SHARED_FACES,
    show_default=True,
    help="the shared face set (photos are read in place)",
)
@click.option("--photos", type=int, default=8, show_default=True, help="frontal photos used")
@click.option("--rounds", type=int, default=1, show_default=True, help="attempts per photo")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def pad_evaluate(faces_dir: Path, photos: int, rounds: int, seed: int, as_json: bool) -> None:
    """Presentation-attack detection, ISO/IEC 30107-3 style: APCER per attack species and
    BPCER on genuine (synthesized) sequences, with counts."""
    from rich.progress import Progress

    from biometrics import pad_evaluation as pe

    candidates = sorted((faces_dir / "lfw").glob("*/*.jpg")) + sorted(
        (faces_dir / "deepface").rglob("*.jpg")
    )
    if not candidates:
        raise click.ClickException(f"{faces_dir}: no photos (lfw/, deepface/)")
    chosen = pe.usable_photos(candidates[::3], photos)
    if len(chosen) < 2:
        raise click.ClickException(f"{faces_dir}: fewer than two frontal photos")
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("attacks and genuine sequences", total=len(chosen) * rounds)
        tallies = pe.evaluate(
            chosen, seed=seed, per_photo=rounds, progress=lambda: progress.advance(task)
        )
    api = None
    if "still_photo_api" in API_SPECIES:
        attempts = API_SPECIES["still_photo_api"]([p.read_bytes() for p in chosen], seed)
        api = pe.api_tally(attempts)
    result = {"photos": [str(p.relative_to(faces_dir)) for p in chosen], **pe.report(tallies, api)}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"PAD evaluation on {len(chosen)} photos x {rounds} (seed {seed})")
    for name, s in result["species"].items():
        click.echo(
            f"  APCER {name:24} {s['errors']:>3}/{s['attempts']:<3} = {_pct(s['apcer'])}"
            f"   {s['reasons']}"
        )
    b = result["bona_fide"]
    click.echo(
        f"  BPCER {'genuine (synthesized)':24} {b['errors']:>3}/{b['attempts']:<3} = {_pct(b['bpcer'])}   {b['reasons']}"
    )
