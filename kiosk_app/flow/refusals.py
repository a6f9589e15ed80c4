"""The backend's machine codes (problem+json `code`) -> what the kiosk tells the resident.

The kiosk switches on codes only, never on the English text of an error: the text is for
staff and logs, and a new wording on the server must not change what a resident is told.
"""

from __future__ import annotations

# code -> refusal kind; a kind names the screen's words (texts `refused_<kind>`) and its voice.
# `not_recognised` is not a refusal screen: it is the face check at the session's opening.
REFUSAL_FOR_CODE: dict[str, str] = {
    # opening the resident session (card + face)
    "face_mismatch": "not_recognised",
    "not_recognised": "not_recognised",
    "card_mismatch": "card_mismatch",  # the card's name is written differently (王秀蘭 / 王秀兰)
    "not_enrolled": "not_enrolled",
    "photo_required": "other",
    # the resident session
    "session_expired": "session_expired",
    "kiosk_session_ended": "session_expired",
    # certification
    "card_locked": "card_locked",  # the day's limit of failed face checks: staff will call
    "not_pensioner": "not_pensioner",
    "challenge_expired": "challenge_expired",
    "challenge_used": "challenge_expired",
    "challenge_invalid": "challenge_expired",
}


def refusal_for(code: str) -> str:
    """The refusal kind for a backend code; `other` (ask the staff) for a code we do not know."""
    return REFUSAL_FOR_CODE.get(code, "other")
