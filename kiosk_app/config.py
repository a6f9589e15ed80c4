"""Every policy-like number of the kiosk in one place (seconds, counts)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class KioskConfig:
    # No touch (and, at the camera, no face) for this long: ask "are you still there?".
    idle_warning_s: float = 60.0
    # After the warning, this long without a touch ends the session and forgets the person.
    idle_grace_s: float = 20.0
    # Watchdogs for work the machine does (beyond them the operation counts as failed).
    card_read_timeout_s: float = 10.0
    backend_timeout_s: float = 20.0  # the watchdog; the HTTP client's own timeout is below it
    http_timeout_s: float = 10.0
    print_timeout_s: float = 25.0
    # Camera guidance: without a usable face for this long, offer help from staff.
    camera_guidance_timeout_s: float = 45.0
    steady_frames: int = 3  # consecutive good frames before the photo is taken
    guidance_voice_gap_s: float = 4.0  # never speak guidance faster than this
    guidance_repeat_s: float = 8.0  # the same advice is spoken again after this long
    # Liveness: each action of the challenge has its own time limit; keep it at or under the
    # backend's (biometrics.liveness.LivenessPolicy.action_timeout, 8 s), or the backend
    # would refuse what the kiosk accepted.
    # The backend sends the county's own time (policy face.action_seconds) with the challenge;
    # this is the default when it does not, tuned for the elderly like the policy's.
    liveness_action_timeout_s: float = 12.0
    # The resident session (and so the menu) opens only after the face matches the card's
    # holder (the backend's POST /kiosk/sessions takes card + photo).
    face_to_open_session: bool = True
    # Face attempts in one session (the backend also locks a card after N failures a day).
    max_face_attempts: int = 3
    # A certification's result stays on screen at least this long (also when the card is
    # pulled at once); with the card still in, the take-card screen keeps it until it is taken.
    result_min_s: float = 8.0
    # "Please take your card" is spoken again this often while the card stays in.
    take_card_reminder_s: float = 15.0
    # A short notice on the menu (e.g. "receipt printed") stays this long.
    notice_s: float = 10.0
    # How many rows of history the screens show (few choices, big text).
    history_rows: int = 5
    # Voice volume 0..1.
    volume: float = 0.9
    # The hidden technician menu: this many taps on the attract screen's top-left corner
    # within `tech_tap_window_s`, then the PIN (env NONGBAO_KIOSK_TECH_PIN; empty: no menu).
    # `tech_max_pin_attempts` wrong PINs lock the entry for `tech_lockout_s`; no touch for
    # `tech_idle_s` goes back to attract; the self-test's watchdog is `tech_self_test_s`.
    tech_pin: str = field(default="", repr=False)
    tech_taps: int = 5
    tech_tap_window_s: float = 4.0
    tech_max_pin_attempts: int = 3
    tech_lockout_s: float = 300.0
    tech_idle_s: float = 60.0
    tech_self_test_s: float = 30.0
    # What the technician menu shows about this kiosk (never the device token).
    # The receipt: the issuing centre's name and phone (printed above and below), and the
    # county's public host, whose /r/<code> page verifies a receipt (the QR code's URL).
    centre_name: str = ""
    centre_phone: str = ""
    county_host: str = ""
    backend_url: str = ""
    device_id: str = ""
    location: str = ""
    orientation: str = "landscape"
