"""The SMS gateway adapter: one small HTTP client for whichever gateway the county contracts.

The API (kept small on purpose; notices and the family-certification feature build on it):

* `SmsGateway(url, key)` or `SmsGateway.from_settings()` (NONGBAO_SMS_URL, NONGBAO_SMS_KEY);
* `send(phone, text, *, ref) -> message_id`. `ref` is the caller's idempotency key: the
  gateway answers a second send with the same `ref` with the first message's id and sends
  nothing, so a sender that crashed between "sent" and "recorded" can safely send again.
  Raises `SmsRejected` (permanent: bad number, refused; do not retry) or `SmsUnavailable`
  (transient: network, 5xx, timeout; retry later);
* `receipts(since=0) -> list[DeliveryReceipt]`: delivery receipts by polling, for gateways
  that cannot reach us; `parse_receipt(payload)` reads the same receipt posted to our
  callback (`POST /api/v1/sms/receipts`).

The wire protocol (what `backend/sms_sim.py` serves, docs/notices.md):
  POST {url}/send      {"to", "text", "ref"}  -> 200 {"message_id"} | 4xx {"error"} | 5xx
  GET  {url}/receipts?since=N                  -> {"receipts": [{"seq", "message_id",
                                                   "ref", "status", "at"}]}
  both with "Authorization: Bearer {key}".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from backend.config import get_settings

DeliveryStatus = Literal["delivered", "failed"]
RECEIPT_STATUSES: tuple[DeliveryStatus, ...] = ("delivered", "failed")
PHONE_RE = re.compile(r"^\+?\d{5,20}$")
MAX_TEXT = 500  # a few concatenated SMS parts; longer is a template mistake


class SmsError(Exception):
    """Base of the adapter's errors."""


class SmsRejected(SmsError):
    """The gateway refused this message for good (bad number, blocked, bad key)."""


class SmsUnavailable(SmsError):
    """The gateway could not be reached or failed; the same send may be retried later."""


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    ref: str
    status: DeliveryStatus
    at: str  # the gateway's ISO time of the delivery (or failure)
    seq: int = 0  # the gateway's receipt sequence, for polling with `since`


def parse_receipt(payload: Any) -> DeliveryReceipt:
    """A receipt from the gateway (callback body or polled item); ValueError if malformed."""
    if not isinstance(payload, dict):
        raise ValueError("a receipt is a JSON object")
    message_id, ref, status, at = (payload.get(k) for k in ("message_id", "ref", "status", "at"))
    if not all(isinstance(v, str) and 0 < len(v) <= 100 for v in (message_id, ref, at)):
        raise ValueError("a receipt needs message_id, ref and at (text)")
    if status not in RECEIPT_STATUSES:
        raise ValueError(f"a receipt's status is one of {', '.join(RECEIPT_STATUSES)}")
    seq = payload.get("seq", 0)
    return DeliveryReceipt(
        str(message_id), str(ref), status, str(at), int(seq) if isinstance(seq, int) else 0
    )


class SmsGateway:
    def __init__(self, url: str, key: str, *, timeout: float = 10.0) -> None:
        if not url:
            raise SmsError("no SMS gateway is configured (NONGBAO_SMS_URL)")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}"}
        self._timeout = timeout

    @classmethod
    def from_settings(cls) -> SmsGateway:
        settings = get_settings()
        return cls(settings.sms_url, settings.sms_key)

    def send(self, phone: str, text: str, *, ref: str) -> str:
        if not PHONE_RE.match(phone):
            raise SmsRejected("not a phone number")
        if not text or len(text) > MAX_TEXT:
            raise SmsRejected(f"a message is 1 to {MAX_TEXT} characters")
        body = {"to": phone, "text": text, "ref": ref}
        response = self._call("POST", "/send", json=body)
        message_id = response.json().get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise SmsUnavailable("the gateway answered without a message id")
        return message_id

    def receipts(self, since: int = 0) -> list[DeliveryReceipt]:
        response = self._call("GET", "/receipts", params={"since": since})
        items = response.json().get("receipts", [])
        return [parse_receipt(item) for item in items if isinstance(item, dict)]

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = httpx.request(
                method, self.url + path, headers=self._headers, timeout=self._timeout, **kw
            )
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"the gateway is unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise SmsUnavailable(f"the gateway answered {response.status_code}")
        if response.status_code >= 400:
            try:
                reason = str(response.json().get("error", ""))[:100]
            except ValueError:
                reason = ""
            raise SmsRejected(f"the gateway refused ({response.status_code}) {reason}".strip())
        return response
