"""Resident sessions at a kiosk: card + verified face opens a short window in which the kiosk
may show that one person's own data (account, certification), and nobody else's.

The token is base64url(JSON {person, device, exp}) + HMAC-SHA256 with a key derived from
the index key, so every backend worker can check it without a table of open sessions. A
session the kiosk ends (the resident walks away: DELETE /api/v1/kiosk/sessions/{token}) is
written to `ended_kiosk_session` until it would have expired, and refused from then on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from backend import clock
from backend.errors import Forbidden, NotFound, Unauthorized
from backend.models import EndedKioskSession
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
            # "n": each session its own token, so a session opened again in the same second
            # is not the one just ended (the ended list is keyed by the token)
            json.dumps(
                {"p": person_id, "d": ctx.actor.device_id, "e": exp, "n": secrets.token_hex(8)}
            ).encode()
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
    claims = _claims(ctx, token)
    if claims is None:
        raise Forbidden("invalid resident session")
    if claims.get("p") != person_id or claims.get("d") != ctx.actor.device_id:
        raise Forbidden("the resident session is for another person or kiosk")
    if claims.get("e", 0) < (now or clock.timestamp()):
        raise Forbidden(
            "the resident session has expired: insert the card again", code="session_expired"
        )
    if ctx.session.get(EndedKioskSession, _digest(token)) is not None:
        raise Unauthorized(
            "the resident session has ended: insert the card again", code="kiosk_session_ended"
        )


def end(ctx: Ctx, token: str, now: float | None = None) -> str:
    """End a resident session of this kiosk before it expires; ending it twice is no error.
    Returns the person's id (for the audit)."""
    claims = _claims(ctx, token)
    if claims is None or claims.get("d") != ctx.actor.device_id:
        raise NotFound("no such resident session on this kiosk", code="kiosk_session_not_found")
    at = now or clock.timestamp()
    expires = datetime.fromtimestamp(float(claims.get("e", 0)), UTC)
    ctx.session.exec(
        sa.delete(EndedKioskSession).where(
            col(EndedKioskSession.expires_at) < datetime.fromtimestamp(at, UTC)
        )
    )
    if expires.timestamp() >= at and ctx.session.get(EndedKioskSession, _digest(token)) is None:
        ctx.session.add(
            EndedKioskSession(
                token_hash=_digest(token), device_id=str(ctx.actor.device_id), expires_at=expires
            )
        )
        ctx.session.flush()
    return str(claims.get("p", ""))


def _claims(ctx: Ctx, token: str) -> dict[str, Any] | None:
    """The token's claims if its MAC is ours, else None."""
    if "." not in token:
        return None
    body, mac = token.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(ctx, body)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
