"""Policy file model: validated on load, looked up by date."""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from backend.money import round_half_up
from backend.policy.outreach import (
    FamilyPolicy,
    GrievancePolicy,
    NoticesPolicy,
    SilentCertificationPolicy,
)
from biometrics.thresholds import (
    DEFAULT_GALLERY3_THRESHOLDS,
    DEFAULT_GALLERY_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    GalleryThresholds,
    Thresholds,
)

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_county.toml")
LEVELS = ("central", "provincial", "prefecture", "county")


class PolicySet(BaseModel):
    name: str
    source: str = ""
    effective: date
    tiers_fen: list[int]
    subsidy_fen: dict[int, int]
    government_inheritable: bool = False
    government_inheritable_deaths_from: date | None = None

    @model_validator(mode="after")
    def _tiers_have_subsidies(self) -> PolicySet:
        if not self.tiers_fen or self.tiers_fen != sorted(set(self.tiers_fen)):
            raise ValueError(f"set {self.name}: tiers must be distinct and ascending")
        if any(t <= 0 for t in self.tiers_fen):
            raise ValueError(f"set {self.name}: tiers must be positive")
        missing = [t for t in self.tiers_fen if t not in self.subsidy_fen]
        if missing:
            raise ValueError(f"set {self.name}: no subsidy for tiers {missing}")
        return self

    @property
    def lowest_tier_fen(self) -> int:
        return self.tiers_fen[0]


class MonthAmount(BaseModel):
    from_: str = Field(alias="from", pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    fen: int = Field(ge=0)


class FacePolicy(BaseModel):
    """The county's face-decision thresholds and attempt limits (`[face]` in the policy file)."""

    # the defaults are the biometrics package's (its one copy); a county's file sets its own
    pass_at: float = Field(default=DEFAULT_THRESHOLDS.pass_at, gt=0, lt=2)
    refer_at: float = Field(default=DEFAULT_THRESHOLDS.refer_at, gt=0, lt=2)
    max_failures_per_day: int = Field(default=3, ge=1)
    # 1:N: closer than this under another ID is a possible duplicate
    duplicate_at: float = Field(default=DEFAULT_THRESHOLDS.pass_at, gt=0, lt=2)
    kiosk_challenge_minutes: int = Field(default=5, ge=1)
    # the liveness challenge: how many actions (a head turn always among them) and the
    # seconds each may take. Tuned for the elderly: 2 actions of 12 s (scripts/bench_liveness.py
    # measures a 2- and a 3-action challenge at the simulator's pace)
    challenge_actions: int = Field(default=2, ge=2, le=3)
    action_seconds: int = Field(default=12, ge=4, le=30)
    field_challenge_days: int = Field(default=7, ge=1)
    # a face is a gallery (biometrics/gallery.py): decisions against the mean of two
    # templates use gallery_*, of three or more gallery3_*, each calibrated for that size
    # (`nongbao faces calibrate --gallery 2`, `--gallery 3`); thresholds() hands them over
    gallery_pass: float = Field(default=DEFAULT_GALLERY_THRESHOLDS.pass_at, gt=0, lt=2)
    gallery_refer: float = Field(default=DEFAULT_GALLERY_THRESHOLDS.refer_at, gt=0, lt=2)
    gallery3_pass: float = Field(default=DEFAULT_GALLERY3_THRESHOLDS.pass_at, gt=0, lt=1)
    gallery3_refer: float = Field(default=DEFAULT_GALLERY3_THRESHOLDS.refer_at, gt=0, lt=1)
    gallery_max: int = Field(default=10, ge=1, le=50)  # templates kept; the oldest trimmed
    # enrolment takes 2-5 photos (issue 18): one photo makes a one-template "gallery", whose
    # genuine distances are twice as spread (docs/biometrics.md); a single photo is refused
    enrol_min_photos: int = Field(default=2, ge=1, le=10)
    enrol_max_photos: int = Field(default=5, ge=1, le=10)
    probe_frames: int = Field(default=3, ge=0, le=10)  # liveness frames scored besides images[0]

    @model_validator(mode="after")
    def _ordered(self) -> FacePolicy:
        if self.pass_at > self.refer_at:
            raise ValueError("face.pass_at must not exceed face.refer_at")
        if self.gallery_pass > self.gallery_refer:
            raise ValueError("face.gallery_pass must not exceed face.gallery_refer")
        if self.gallery3_pass >= self.gallery3_refer:
            raise ValueError(
                "face.gallery3_pass must be below face.gallery3_refer (galleries of 3 or more)"
            )
        if self.enrol_min_photos > self.enrol_max_photos:
            raise ValueError("face.enrol_min_photos must not exceed face.enrol_max_photos")
        return self

    def thresholds(self) -> GalleryThresholds:
        """The pairs by gallery size; `GalleryThresholds.for_size` picks the one applied."""
        return GalleryThresholds(
            single=Thresholds(self.pass_at, self.refer_at),
            pair=Thresholds(self.gallery_pass, self.gallery_refer),
            three=Thresholds(self.gallery3_pass, self.gallery3_refer),
        )


class CertificationPolicy(BaseModel):
    """Certification checks beyond the face (`[certification]` in the policy file)."""

    # kiosk/field: a reported location farther than this (plus its accuracy) from the
    # person's village is referred to a reviewer (`location_far`), never passed
    max_distance_km: float = Field(default=10.0, gt=0, le=20_000)
    # signed captures: a kiosk or field submission must carry a valid signature by the
    # device's registered Ed25519 key; false lets devices registered WITHOUT a key submit
    # unsigned (a migration period only; a device with a key must always sign)
    require_signed_captures: bool = True
    # a certification that runs out within this many days is "due" (backend/rules/certification.py)
    due_soon_days: int = Field(default=60, ge=0, le=366)


class ArchivesPolicy(BaseModel):
    """Document archives (`[archives]` in the policy file): years to keep each kind of
    document after it is filed, and the largest document accepted."""

    application_form: int = Field(default=30, ge=1, le=200)
    death_certificate: int = Field(default=30, ge=1, le=200)
    review_evidence: int = Field(default=10, ge=1, le=200)
    field_attestation: int = Field(default=10, ge=1, le=200)
    field_document: int = Field(default=10, ge=1, le=200)
    other: int = Field(default=5, ge=1, le=200)
    max_bytes: int = Field(default=10_485_760, ge=1)

    def retention_years(self, kind: str) -> int:
        return int(getattr(self, kind))


class ReviewPriorityPolicy(BaseModel):
    """How the review console orders its queue (`[review_priority]` in the policy file, no
    defaults in code): a case's priority is a sum of points a reviewer can follow
    (backend/services/queue.py): the most serious reason on it (`reasons`, `other_reason` for
    a code not listed), the person's age (`age_points` per 5 years over `age_from`, at most
    `age_cap`), how long the certification is overdue (`overdue_points` per 30 days, at most
    `overdue_cap`) and how long the case has waited (a point a day, at most `wait_cap`).
    `high_at` and `medium_at` name the levels shown."""

    reasons: dict[str, int] = Field(min_length=1)
    other_reason: int = Field(ge=0, le=1000)
    age_from: int = Field(ge=0, le=120)
    age_points: int = Field(ge=0, le=1000)
    age_cap: int = Field(ge=0, le=1000)
    overdue_points: int = Field(ge=0, le=1000)
    overdue_cap: int = Field(ge=0, le=1000)
    wait_cap: int = Field(ge=0, le=1000)
    high_at: int = Field(ge=1, le=10_000)
    medium_at: int = Field(ge=1, le=10_000)

    @field_validator("reasons")
    @classmethod
    def _reason_points(cls, v: dict[str, int]) -> dict[str, int]:
        for code, points in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", code):
                raise ValueError(f"review_priority.reasons: {code!r} is not a reason code")
            if not 0 <= points <= 1000:
                raise ValueError(f"review_priority.reasons.{code}: points must be 0..1000")
        return v

    @model_validator(mode="after")
    def _levels_ordered(self) -> ReviewPriorityPolicy:
        if self.medium_at >= self.high_at:
            raise ValueError("review_priority.medium_at must be below high_at")
        return self


class Policy(BaseModel):
    county: str
    scheme_start: date
    region_class: Literal["western", "central", "eastern"]
    pension_age: int = Field(ge=40, le=80)
    account_divisor: int = Field(gt=0)
    collection_deadline: str = Field(pattern=r"^\d{2}-\d{2}$")
    certification_cycle_months: int = Field(gt=0)
    funeral_grant_fen: int = Field(ge=0)
    long_contribution_bonus_fen: int = Field(ge=0)
    long_contribution_base_years: int = Field(ge=0)
    payroll_day: int = Field(ge=1, le=28)
    subsidy_shares: dict[str, Decimal]
    central_share: dict[str, Decimal]
    sets: list[PolicySet]
    central_minimum: list[MonthAmount]
    county_topup: list[MonthAmount]
    interest_rates: dict[int, Decimal]
    face: FacePolicy = FacePolicy()
    certification: CertificationPolicy = CertificationPolicy()
    archives: ArchivesPolicy = ArchivesPolicy()
    notices: NoticesPolicy = NoticesPolicy()
    silent_certification: SilentCertificationPolicy = SilentCertificationPolicy()
    grievances: GrievancePolicy = GrievancePolicy()
    family: FamilyPolicy = FamilyPolicy()
    review_priority: ReviewPriorityPolicy  # the console's queue order: the county's own

    @field_validator("subsidy_shares")
    @classmethod
    def _shares_sum_to_one(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        unknown = set(v) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown government levels {sorted(unknown)}; use {LEVELS}")
        if sum(v.values()) != 1:
            raise ValueError("subsidy shares must add up to 1")
        return v

    @model_validator(mode="after")
    def _timelines_ordered(self) -> Policy:
        effs = [s.effective for s in self.sets]
        if effs != sorted(effs) or len(set(effs)) != len(effs):
            raise ValueError("policy sets must be in order of effective date, one per date")
        if self.sets[0].effective > self.scheme_start:
            raise ValueError("the first policy set must be in force at the scheme start")
        for name in ("central_minimum", "county_topup"):
            months = [m.from_ for m in getattr(self, name)]
            if not months or months != sorted(months):
                raise ValueError(f"{name} must be a non-empty list in month order")
        if (
            self.scheme_start.year not in self.interest_rates
            and min(self.interest_rates) > self.scheme_start.year
        ):
            raise ValueError("interest_rates must cover the scheme-start year")
        for r in self.interest_rates.values():
            if not (Decimal(0) <= r < Decimal(1)):
                raise ValueError('interest rates are fractions, e.g. "0.0225"')
        return self

    # --- look-ups ---------------------------------------------------------------------------

    def set_on(self, on: date) -> PolicySet:
        idx = bisect_right([s.effective for s in self.sets], on) - 1
        return self.sets[max(idx, 0)]

    def interest_rate(self, year: int) -> Decimal:
        known = sorted(self.interest_rates)
        idx = bisect_right(known, year) - 1
        if idx < 0:
            raise ValueError(f"no interest rate for {year}")
        return self.interest_rates[known[idx]]

    def central_minimum_fen(self, month: str) -> int:
        return _amount_in(self.central_minimum, month)

    def county_topup_fen(self, month: str) -> int:
        return _amount_in(self.county_topup, month)

    def central_share_of(self) -> Fraction:
        return Fraction(self.central_share[self.region_class])

    def government_inheritable_on(self, death: date) -> bool:
        for s in reversed(self.sets):
            if s.government_inheritable and s.government_inheritable_deaths_from is not None:
                return death >= s.government_inheritable_deaths_from
        return self.set_on(death).government_inheritable

    def split_subsidy(self, amount_fen: int) -> dict[str, int]:
        """Split a subsidy among government levels by share; the last level takes the rounding."""
        levels = [
            lvl for lvl in LEVELS if lvl in self.subsidy_shares and self.subsidy_shares[lvl] > 0
        ]
        out: dict[str, int] = {}
        left = amount_fen
        for lvl in levels[:-1]:
            part = round_half_up(Fraction(amount_fen) * Fraction(self.subsidy_shares[lvl]))
            out[lvl] = part
            left -= part
        out[levels[-1]] = left
        return out


def _amount_in(timeline: list[MonthAmount], month: str) -> int:
    idx = bisect_right([m.from_ for m in timeline], month) - 1
    return timeline[idx].fen if idx >= 0 else 0


def load_policy(path: Path | None = None) -> Policy:
    return _load(str(path or DEFAULT_POLICY_FILE))


@lru_cache(maxsize=8)
def _load(path: str) -> Policy:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"policy file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"policy file {path} is not valid TOML: {exc}") from None
    # TOML keys are strings; integer-keyed tables are converted by pydantic
    return Policy.model_validate(raw)
