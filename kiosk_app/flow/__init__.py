"""The kiosk's flow as a plain state machine: events in, effects and a view model out.

No Kivy, no HTTP, no hardware here. `KioskFlow.handle(event)` changes the state and returns the
effects the runner must carry out (read the card, call the backend, start the camera, print,
speak); their results come back as events carrying the request number `req` they answer, so a
late answer for an abandoned request (the card was pulled, the user went back) is ignored.
`KioskFlow.view()` describes what the screen shows now. Time comes from an injected clock;
`Tick` events make the machine look at it (timeouts, reminders).

Personal data (card, resident, figures, images) lives only for one session: every way out of a
session goes through `_end_session`, which drops it and tells the runner to forget it too.

The package, by concern: `events` (in), `effects` (out), `model` (screens and the view model),
`state` (the session and shared helpers), `technician`, `certification`, `views` and
`machine` (the dispatcher, `KioskFlow`).
"""

# the names the flow's users and tests reach through `flow` (its PIN check is `hmac`'s)
import hmac

from kiosk_app.flow.effects import (
    CallStaff,
    CaptureFace,
    Effect,
    EndSession,
    LoadAccount,
    LoadContributions,
    LoadPayments,
    OpenSession,
    PrintReceipt,
    PrintStatement,
    ReadCard,
    RequestChallenge,
    RunSelfTest,
    Speak,
    StartCamera,
    StopCamera,
    Submit,
    WatchAction,
)
from kiosk_app.flow.events import (
    AccountLoaded,
    ActionDetected,
    BackendRefused,
    BackendUnreachable,
    CameraFailed,
    CardInserted,
    CardRead,
    CardReadFailed,
    CardRemoved,
    CertificationDone,
    ChallengeIssued,
    CheckResult,
    ContributionsLoaded,
    Event,
    FrameAssessed,
    PaymentsLoaded,
    PrintDone,
    PrinterFault,
    SelfTestDone,
    SessionOpened,
    StaffCalled,
    Tap,
    Tick,
    Touch,
)
from kiosk_app.flow.machine import KioskFlow
from kiosk_app.flow.model import (
    BACK,
    BUSY_SCREENS,
    EXIT,
    HELP,
    ICON,
    IDLE_SCREENS,
    PENSIONER_STATUSES,
    PIN_MAX_DIGITS,
    TECH_DEVICES,
    TECH_SCREENS,
    Button,
    Overlay,
    Screen,
    ViewModel,
)
from kiosk_app.models import QualityVerdict
from kiosk_app.texts import Text

__all__ = [
    "BACK",
    "BUSY_SCREENS",
    "EXIT",
    "HELP",
    "ICON",
    "IDLE_SCREENS",
    "PENSIONER_STATUSES",
    "PIN_MAX_DIGITS",
    "TECH_DEVICES",
    "TECH_SCREENS",
    "AccountLoaded",
    "ActionDetected",
    "BackendRefused",
    "BackendUnreachable",
    "Button",
    "CallStaff",
    "CameraFailed",
    "CaptureFace",
    "CardInserted",
    "CardRead",
    "CardReadFailed",
    "CardRemoved",
    "CertificationDone",
    "ChallengeIssued",
    "CheckResult",
    "ContributionsLoaded",
    "Effect",
    "EndSession",
    "Event",
    "FrameAssessed",
    "KioskFlow",
    "LoadAccount",
    "LoadContributions",
    "LoadPayments",
    "OpenSession",
    "Overlay",
    "PaymentsLoaded",
    "PrintDone",
    "PrintReceipt",
    "PrintStatement",
    "PrinterFault",
    "QualityVerdict",
    "ReadCard",
    "RequestChallenge",
    "RunSelfTest",
    "Screen",
    "SelfTestDone",
    "SessionOpened",
    "Speak",
    "StaffCalled",
    "StartCamera",
    "StopCamera",
    "Submit",
    "Tap",
    "Text",
    "Tick",
    "Touch",
    "ViewModel",
    "WatchAction",
    "hmac",
]
