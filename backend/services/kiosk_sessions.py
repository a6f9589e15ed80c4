"""Resident sessions at a kiosk: card + verified face opens a short window in which the kiosk
may show that one person's own data (account, certification), and nobody else's.

The token is stateless: base64url(JSON {person, device, exp}) + HMAC-SHA256 with a key
derived from the index key, so every backend worker can check it without a table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from backend import clock
from backend.errors import Forbidden
from backend.services.context import Ctx

TTL_SECONDS = 180
HEADER = "X-Resident-Session"


def _mac(ctx: Ctx, body: str) -> str:
    key = hmac.new(ctx.keyring.index_key, b"nongbao-kiosk-session-v1", hashlib.sha256).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def open_session(ctx: Ctx, person_id: str, now: float | None = None) -> tuple[str, int]:
    exp = int((now or clock.timestamp()) + TTL_SECONDS)
    body = (
        base64.urlsafe_b64encode(
            json.dumps({"p": person_id, "d": ctx.actor.device_id, "e": exp}).encode()
        )
        .decode()
        .rstrip("=")
    )
    return f"{body}.{_mac(ctx, body)}", TTL_SECONDS


def require(ctx: Ctx, token: str | None, person_id: str, now: float | None = None) -> None:
    """For a kiosk caller: a valid resident session for this person on this device, or 403."""
    if ctx.actor.role != "kiosk":
        return
    if not token or "." not in token:
        raise Forbidden(
            "a kiosk sees a person's data only in a resident session (card + face): POST /api/v1/kiosk/sessions"
        )
    body, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(ctx, body)):
        raise Forbidden("invalid resident session")
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        raise Forbidden("invalid resident session") from None
    if claims.get("p") != person_id or claims.get("d") != ctx.actor.device_id:
        raise Forbidden("the resident session is for another person or kiosk")
    if claims.get("e", 0) < (now or clock.timestamp()):
        raise Forbidden("the resident session has expired: insert the card again")
