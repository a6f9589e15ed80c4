"""Effects out of the kiosk's flow: what the runner must do (devices, backend, voice)."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk_app.models import CardInfo, CardKind, LivenessEvidence, ReceiptContent, Resident


@dataclass(frozen=True)
class ReadCard:
    req: int
    kind: CardKind


@dataclass(frozen=True)
class OpenSession:
    req: int
    card: CardInfo
    with_photo: bool = False  # send the photo just taken (the backend checks the face)


@dataclass(frozen=True)
class LoadAccount:
    req: int
    resident: Resident


@dataclass(frozen=True)
class LoadContributions:
    req: int
    resident: Resident


@dataclass(frozen=True)
class LoadPayments:
    req: int
    resident: Resident


@dataclass(frozen=True)
class RequestChallenge:
    req: int
    resident: Resident


@dataclass(frozen=True)
class StartCamera:
    pass


@dataclass(frozen=True)
class StopCamera:
    pass


@dataclass(frozen=True)
class CaptureFace:
    """Keep the last good frame as the photo; with `actions`, start recording the liveness
    evidence for them (the challenge's actions, in order)."""

    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchAction:
    action: str


@dataclass(frozen=True)
class Submit:
    req: int
    resident: Resident
    evidence: LivenessEvidence
    idempotency_key: str


@dataclass(frozen=True)
class PrintReceipt:
    req: int
    content: ReceiptContent


@dataclass(frozen=True)
class PrintStatement:
    """Gather the resident's figures and print them (the menu's 打印)."""

    req: int
    resident: Resident


@dataclass(frozen=True)
class RunSelfTest:
    """Check every device (card reader, camera frame, printer status + a test receipt,
    backend /healthz) and answer with SelfTestDone."""

    req: int


@dataclass(frozen=True)
class Speak:
    key: str  # a texts.VOICE key
    text: str | None = None  # a sentence made now (a result with its date); `key` if it fails


@dataclass(frozen=True)
class CallStaff:
    """请工作人员帮忙: tell the staff (the console's help list); answers with StaffCalled."""

    screen: str


@dataclass(frozen=True)
class EndSession:
    """Forget the person: close the backend session, drop photos and figures."""

    session_id: str | None


Effect = (
    ReadCard
    | OpenSession
    | LoadAccount
    | LoadContributions
    | LoadPayments
    | RequestChallenge
    | StartCamera
    | StopCamera
    | CaptureFace
    | WatchAction
    | Submit
    | PrintReceipt
    | PrintStatement
    | RunSelfTest
    | Speak
    | CallStaff
    | EndSession
)
