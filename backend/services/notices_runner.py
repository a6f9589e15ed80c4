"""serve's background SMS sender: a round of `notices.run_once` every few minutes.

Every worker of `nongbao serve` runs one; they cannot send a notice twice (the outbox's
claims, backend/services/notices.py), so more workers only means more chances to send.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.api.deps import AppState

log = logging.getLogger("nongbao.notices")


def background_sender(state: AppState) -> asyncio.Task[None] | None:
    interval = state.policy.notices.sender_interval_seconds
    if not state.settings.sms_url or interval <= 0:
        return None
    return asyncio.get_running_loop().create_task(_loop(state, interval))


async def _loop(state: AppState, interval: int) -> None:
    from backend.notices_cli import sender_name
    from backend.services import notices
    from backend.sms import SmsGateway

    gateway = SmsGateway(state.settings.sms_url, state.settings.sms_key)
    while True:
        try:
            result = await asyncio.to_thread(
                notices.run_once,
                state.engine,
                state.keyring,
                state.policy,
                gateway,
                sender=sender_name(),
            )
            log.info("sms notices round: %s", result)
        except Exception:  # a bad round must not stop the sender (nor the server)
            log.exception("sms notices round failed")
        await asyncio.sleep(interval)
