"""The face decision's distance cut-offs: the one copy of their defaults.

Light on purpose (no numpy, no dlib): the backend's policy model takes its defaults from here,
a county's policy file (`[face]`) sets its own values, and the review console renders those."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Distance cut-offs: <= pass_at passes, <= refer_at goes to staff, above fails."""

    pass_at: float = 0.50
    refer_at: float = 0.60

    def __post_init__(self) -> None:
        if not 0 < self.pass_at <= self.refer_at:
            raise ValueError(f"need 0 < pass_at <= refer_at, got {self.pass_at}, {self.refer_at}")


DEFAULT_THRESHOLDS = Thresholds()

# Against the mean of a gallery of two or more photos (biometrics/gallery.py). Calibrated on
# the shared set with `nongbao faces calibrate PATH --gallery 2` and `--gallery 3` and checked
# on identity-disjoint held-out splits (docs/biometrics.md, "Calibrated gallery thresholds"):
# every impostor mean lies beyond 0.546, genuine photos of the same person reach 0.595.
DEFAULT_GALLERY_THRESHOLDS = Thresholds(pass_at=0.50, refer_at=0.60)
