"""Events into the kiosk's flow: touches, devices and the answers to its requests.

An answer carries the request number `req` it answers, so a late answer for an abandoned
request (the card was pulled, the user went back) is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk_app.models import (
    AccountSummary,
    CardInfo,
    CardKind,
    CertificationResult,
    Challenge,
    Contribution,
    Payment,
    QualityVerdict,
    Resident,
)


@dataclass(frozen=True)
class Tick:
    """Look at the clock (the runner sends this a few times a second)."""


@dataclass(frozen=True)
class Touch:
    """Any touch anywhere on the screen (keeps the session alive). `corner`: it was in the
    top-left corner (the technician menu's hidden entry on the attract screen)."""

    corner: bool = False


@dataclass(frozen=True)
class Tap:
    button: str  # a Button.id of the current view


@dataclass(frozen=True)
class CardInserted:
    kind: CardKind


@dataclass(frozen=True)
class CardRemoved:
    pass


@dataclass(frozen=True)
class CardRead:
    req: int
    card: CardInfo


@dataclass(frozen=True)
class CardReadFailed:
    req: int
    detail: str = ""


@dataclass(frozen=True)
class SessionOpened:
    req: int
    resident: Resident


@dataclass(frozen=True)
class AccountLoaded:
    req: int
    account: AccountSummary


@dataclass(frozen=True)
class ContributionsLoaded:
    req: int
    items: tuple[Contribution, ...]


@dataclass(frozen=True)
class PaymentsLoaded:
    req: int
    items: tuple[Payment, ...]


@dataclass(frozen=True)
class ChallengeIssued:
    req: int
    challenge: Challenge


@dataclass(frozen=True)
class FrameAssessed:
    verdict: QualityVerdict


@dataclass(frozen=True)
class ActionDetected:
    action: str


@dataclass(frozen=True)
class CameraFailed:
    detail: str = ""


@dataclass(frozen=True)
class CertificationDone:
    req: int
    result: CertificationResult


@dataclass(frozen=True)
class PrintDone:
    req: int


@dataclass(frozen=True)
class PrinterFault:
    req: int
    kind: str = "out_of_paper"  # out_of_paper | offline | timeout


@dataclass(frozen=True)
class CheckResult:
    """One device of the self-test: `code` is ok / printed or the fault (texts tech_fault_*);
    `detail` the device's own words for the log."""

    device: str  # card_reader | camera | printer | backend
    ok: bool
    code: str = "ok"
    detail: str = ""


@dataclass(frozen=True)
class SelfTestDone:
    req: int
    results: tuple[CheckResult, ...]


@dataclass(frozen=True)
class StaffCalled:
    ok: bool  # the backend recorded the help request


@dataclass(frozen=True)
class BackendUnreachable:
    req: int
    detail: str = ""


@dataclass(frozen=True)
class BackendRefused:
    req: int
    reason: str  # e.g. not_enrolled, card_locked, not_pensioner, challenge_expired
    detail: str = ""


Event = (
    Tick
    | Touch
    | Tap
    | CardInserted
    | CardRemoved
    | CardRead
    | CardReadFailed
    | SessionOpened
    | AccountLoaded
    | ContributionsLoaded
    | PaymentsLoaded
    | ChallengeIssued
    | FrameAssessed
    | ActionDetected
    | CameraFailed
    | CertificationDone
    | PrintDone
    | PrinterFault
    | SelfTestDone
    | BackendUnreachable
    | BackendRefused
    | StaffCalled
)
