"""Kiosk help requests: a resident asks for staff from the kiosk; the console lists them."""

from __future__ import annotations

from sqlmodel import col, select

from backend.errors import Forbidden
from backend.ledger import new_id
from backend.models import Device, KioskHelpRequest
from backend.services import audit
from backend.services.context import Ctx

LIST_LIMIT = 100


def open_request(ctx: Ctx, screen: str) -> KioskHelpRequest:
    """Record a help request from the calling kiosk (its id and place come from its token)."""
    device = ctx.session.get(Device, ctx.actor.device_id) if ctx.actor.device_id else None
    if device is None:
        raise Forbidden("only a registered kiosk asks for help", code="device_not_authorised")
    row = KioskHelpRequest(
        id=new_id("help")[:40], device_id=device.id, location=device.location, screen=screen
    )
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, "kiosk.help_request", row.id)
    return row


def recent(ctx: Ctx, limit: int = LIST_LIMIT) -> list[KioskHelpRequest]:
    """The newest first."""
    query = select(KioskHelpRequest).order_by(col(KioskHelpRequest.created_at).desc()).limit(limit)
    return list(ctx.session.exec(query).all())


def out(row: KioskHelpRequest) -> dict[str, object]:
    return {
        "request_id": row.id,
        "device_id": row.device_id,
        "location": row.location,
        "screen": row.screen,
        "created_at": row.created_at.isoformat(),
    }
