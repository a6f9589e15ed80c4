"""Plain data the kiosk passes around: no Kivy, no HTTP, no hardware.

Money is integer fen everywhere (DOMAIN.md); only `format_yuan` turns it into text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class CardKind(StrEnum):
    SOCIAL_SECURITY = "social_security"  # 社会保障卡, inserted into the slot
    ID_CARD = "id_card"  # 居民身份证, placed on the reader


@dataclass(frozen=True)
class CardInfo:
    """What a card reader gave us. Personal data: never logged, forgotten at session end."""

    kind: CardKind
    id_number: str
    name: str
    card_number: str | None = None  # the social security card's own number, when read


@dataclass(frozen=True)
class Resident:
    """A resident session opened by the backend for a card (names and numbers masked)."""

    session_id: str
    person_id: str
    name_masked: str
    id_number_masked: str
    status: str  # enrolled | receiving | suspended | ...
    certification_valid_until: date | None = None
    certification_due: bool = True


@dataclass(frozen=True)
class AccountSummary:
    balance_fen: int
    personal_fen: int = 0
    collective_fen: int = 0
    other_fen: int = 0
    government_fen: int = 0


@dataclass(frozen=True)
class Contribution:
    year: int
    kind: str  # normal | back_payment | on_behalf
    personal_fen: int
    government_fen: int
    collective_fen: int = 0
    other_fen: int = 0
    paid_on: date | None = None

    @property
    def total_fen(self) -> int:
        return self.personal_fen + self.government_fen + self.collective_fen + self.other_fen


@dataclass(frozen=True)
class Payment:
    period: str  # YYYY-MM
    total_fen: int
    basic_fen: int = 0
    account_fen: int = 0
    arrears_fen: int = 0
    status: str = "paid"


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    nonce: str
    actions: tuple[str, ...]  # e.g. ("blink", "turn_left"), done one at a time
    expires_at: str | None = None
    # the county's time per action (policy face.action_seconds); None: the kiosk's default
    seconds_per_action: float | None = None


@dataclass(frozen=True)
class ReceiptRef:
    receipt_id: str
    code: str  # the text of the receipt's QR code


@dataclass(frozen=True)
class CertificationResult:
    certification_id: str
    outcome: str  # passed | referred | failed
    distance: float | None = None
    reasons: tuple[str, ...] = ()
    valid_until: date | None = None
    receipt: ReceiptRef | None = None


@dataclass(frozen=True)
class LivenessEvidence:
    """What the kiosk saw while the person did the challenge's actions."""

    challenge_id: str
    nonce: str
    actions_done: tuple[str, ...]
    timings_s: tuple[float, ...] = ()
    # per-frame measurements in time order, the backend's evidence format:
    # {"t": unix s, "face": bool, "ear", "mar", "yaw", "aspect", "shape"?, "sample"?}
    # where "sample" indexes the JPEG frames sent with them
    measurements: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True)
class QualityVerdict:
    """One camera frame judged by the quality gate (adapter output)."""

    ok: bool
    face_found: bool
    reason: str | None = None  # code of the first problem, e.g. "too_dark"
    prompt_zh: str | None = None
    prompt_en: str | None = None


@dataclass(frozen=True)
class ReceiptContent:
    """A receipt to print: title, lines of text, optional QR code text."""

    title: str
    lines: tuple[str, ...]
    qr_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def format_yuan(fen: int) -> str:
    """12345 -> '123.45'; negative amounts keep their sign. Integer arithmetic only."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"
