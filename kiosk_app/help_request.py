"""请工作人员帮忙: the kiosk tells the staff someone needs help (POST /api/v1/kiosk/help-requests).

A small client of its own (httpx): the request carries no personal data, only the screen the
person is on; the backend knows the kiosk and its place from the device token.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

log = logging.getLogger("kiosk.help")
PATH = "/api/v1/kiosk/help-requests"


class HelpRequests(Protocol):
    def send(self, screen: str) -> bool: ...


class HttpHelpRequests:
    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
        )

    def send(self, screen: str) -> bool:
        """True when the backend recorded the request (201)."""
        try:
            response = self._client.post(PATH, json={"screen": screen})
        except httpx.HTTPError as exc:
            log.warning("help request not sent: %s", exc)
            return False
        if response.status_code != 201:
            log.warning("help request refused: %s %s", response.status_code, response.text[:200])
        return response.status_code == 201

    def close(self) -> None:
        self._client.close()


class SimulatedHelpRequests:
    """The demo without a backend: remembers the requests."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, screen: str) -> bool:
        self.sent.append(screen)
        return True
