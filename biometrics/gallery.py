"""A person's face as a gallery of templates, not one vector.

The gallery holds the enrolment photos (2-5, each kept with its own template and quality)
and the best frame of each passed certification, so it follows the person's ageing. It is
bounded: past `max_size` the oldest entries are trimmed, except the newest enrolment photo,
which staff saw and which anchors the gallery (frames added by passed certifications alone
cannot drift it towards someone else).

The decision compares a probe with the gallery's mean template. Measured on the shared set
(`nongbao faces evaluate PATH --gallery K`), the mean of two photos already halves the
genuine distances' spread, while impostors come no closer: with two or more templates
FNMR at 0.50 falls from 7% (one photo) to under 3%. The mean's impostor distances are
tighter too, and tighter still with three or more, so each size has its refer line (policy
`[face] gallery_refer` for two templates, `gallery3_refer` for three or more;
`GalleryThresholds.for_size` chooses): a line calibrated for fewer templates sends impostors
to staff. A gallery of one template (people enrolled before galleries) keeps the
single-template thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from biometrics.templates import MatchResult, Thresholds, decide, distance
from biometrics.thresholds import DEFAULT_GALLERY_THRESHOLDS as DEFAULT_GALLERY_THRESHOLDS
from biometrics.thresholds import GalleryThresholds

Source = Literal["enrolment", "certification"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One template of a gallery; `key` identifies it to the caller (a database id)."""

    key: str
    template: np.ndarray
    source: Source
    added_at: datetime


@dataclass(frozen=True, slots=True)
class GalleryMatch:
    result: MatchResult
    probe: int  # index of the probe that decided (the nearest)
    size: int  # templates in the gallery
    thresholds: Thresholds  # the pair applied: that of the gallery's size


def mean_template(templates: Sequence[np.ndarray]) -> np.ndarray:
    if not templates:
        raise ValueError("an empty gallery has no mean template")
    return np.mean(np.stack([np.asarray(t, np.float32) for t in templates]), axis=0).astype(
        np.float32
    )


def gallery_distance(probe: np.ndarray, templates: Sequence[np.ndarray]) -> float:
    """Distance of a probe to the gallery: to its mean template."""
    return distance(probe, mean_template(templates))


def match(
    probes: Sequence[np.ndarray],
    templates: Sequence[np.ndarray],
    thresholds: GalleryThresholds,
) -> GalleryMatch:
    """Decide on the nearest of several probes (the sharpest frontal frames of a session):
    one blurred or turned frame does not fail a person another frame shows well. The
    thresholds are those of the gallery's size (`GalleryThresholds.for_size`)."""
    if not probes:
        raise ValueError("no probe to match")
    mean = mean_template(templates)
    dists = [distance(p, mean) for p in probes]
    best = int(np.argmin(dists))
    applied = thresholds.for_size(len(templates))
    return GalleryMatch(decide(round(dists[best], 4), applied), best, len(templates), applied)


def trim(entries: Sequence[Entry], max_size: int) -> tuple[list[Entry], list[Entry]]:
    """(kept, dropped): at most max_size entries, the oldest dropped first, but never the
    newest enrolment entry (staff saw it; it anchors the gallery against drift)."""
    if max_size < 1:
        raise ValueError("a gallery holds at least one template")
    ordered = sorted(entries, key=lambda e: e.added_at)
    enrolled = [e for e in ordered if e.source == "enrolment"]
    anchor = enrolled[-1] if enrolled else None
    dropped: list[Entry] = []
    kept = list(ordered)
    for entry in ordered:
        if len(kept) <= max_size:
            break
        if entry is anchor:
            continue
        kept.remove(entry)
        dropped.append(entry)
    return kept, dropped
