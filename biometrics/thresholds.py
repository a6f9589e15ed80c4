"""The face decision's distance cut-offs: the one copy of their defaults.

Light on purpose (no numpy, no dlib): the backend's policy model takes its defaults from here,
a county's policy file (`[face]`) sets its own values, and the review console renders those."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Distance cut-offs: <= pass_at passes, <= refer_at goes to staff, above fails."""

    pass_at: float = 0.50
    refer_at: float = 0.60

    def __post_init__(self) -> None:
        if not 0 < self.pass_at <= self.refer_at:
            raise ValueError(f"need 0 < pass_at <= refer_at, got {self.pass_at}, {self.refer_at}")


DEFAULT_THRESHOLDS = Thresholds()

# Against the mean of a gallery of two photos (biometrics/gallery.py). Calibrated on the
# shared set with `nongbao faces calibrate PATH --gallery 2` and checked on identity-disjoint
# held-out splits (docs/biometrics.md, "Calibrated gallery thresholds"): every impostor mean
# lies beyond 0.546, genuine photos of the same person reach 0.595.
DEFAULT_GALLERY_THRESHOLDS = Thresholds(pass_at=0.50, refer_at=0.60)

# Against the mean of three or more: tighter, so a lower refer line keeps 7 in 8 of the
# impostors a 0.60 line would send to staff away from them (`nongbao faces calibrate PATH
# --gallery 3` proposes 0.50 / 0.57; docs/biometrics.md).
DEFAULT_GALLERY3_THRESHOLDS = Thresholds(pass_at=0.50, refer_at=0.57)

SizeClass = Literal[1, 2, 3]


def size_class(size: int) -> SizeClass:
    """The kind of decision a gallery of `size` templates makes: 1 (one template, the
    single-photo thresholds), 2 (the mean of two) or 3 (the mean of three or more)."""
    return 1 if size <= 1 else 2 if size == 2 else 3


@dataclass(frozen=True, slots=True)
class GalleryThresholds:
    """The county's thresholds for each kind of gallery decision (policy `[face]`)."""

    single: Thresholds = DEFAULT_THRESHOLDS  # pass_at / refer_at
    pair: Thresholds = DEFAULT_GALLERY_THRESHOLDS  # gallery_pass / gallery_refer
    three: Thresholds = DEFAULT_GALLERY3_THRESHOLDS  # gallery3_pass / gallery3_refer

    def for_size(self, size: int) -> Thresholds:
        """The one rule choosing the thresholds a decision against `size` templates uses."""
        return {1: self.single, 2: self.pair, 3: self.three}[size_class(size)]


DEFAULT_GALLERY_BY_SIZE = GalleryThresholds()
