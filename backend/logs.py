"""Structured logs: one line per request (route, status, duration, actor), as JSON or text.

NONGBAO_LOG_FORMAT=json gives one JSON object per line for a log shipper (journald, Loki,
ELK); anything else gives readable text. NONGBAO_LOG_LEVEL sets the level (default INFO).

No log line carries an ID number, a token or a receipt code: `Redact` masks them in our own
loggers and in uvicorn's (its access log prints every URL with its query string, e.g.
`GET /api/v1/persons?id_number=...` or a kiosk session token in a path).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

REQUEST_LOGGER = "nongbao.request"
_CONFIGURED = False
MASK = "***"

# query parameters whose values are personal data or secrets, wherever they appear
_SECRET_QUERY = re.compile(
    r"(?i)\b(id_number|old_id_number|name|phone|bank_account|code|token|session|session_token"
    r"|access_token|password|x-resident-session)=[^&\s\"']*"
)
# an 18-digit ID number (the last may be X) or a 15-digit old one, not inside a longer number
_ID_NUMBER = re.compile(
    r"(?<![0-9])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])|(?<![0-9])\d{11}(\d{4})(?![0-9])"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# a kiosk resident session in a path (DELETE /api/v1/kiosk/sessions/{token}); device tokens
_PATH_TOKEN = re.compile(r"(/sessions/)[^/?\s\"']+")
_DEVICE_TOKEN = re.compile(r"\bnbd_[A-Za-z0-9_-]+")


def _mask_id(m: re.Match[str]) -> str:
    if m.group(1):
        return f"{m.group(1)}{'*' * 8}{m.group(2)}"
    return f"{'*' * 11}{m.group(3)}"


def redact(text: str) -> str:
    """The text with ID numbers masked as staff see them (region and last four), and tokens,
    receipt codes and personal query values replaced."""
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _JWT.sub(MASK, text)
    text = _PATH_TOKEN.sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _DEVICE_TOKEN.sub(MASK, text)
    return _ID_NUMBER.sub(_mask_id, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple):
        return tuple(_redact_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    return value


class Redact(logging.Filter):
    """Masks a record's message, arguments, structured fields and traceback in place.
    uvicorn's access formatter unpacks the arguments, so their shape is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = _redact_value(record.args)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = _redact_value(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


REDACTED_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error", "nongbao")


def install_redaction() -> None:
    """Attach the filter to uvicorn's loggers and every handler of ours (idempotent). Called when
    the app is made, so after uvicorn has configured its logging, in every worker."""
    for name in REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, Redact) for f in target.filters):
                target.addFilter(Redact())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()} {extra}".rstrip()


def log_format() -> str:
    return "json" if os.environ.get("NONGBAO_LOG_FORMAT", "text").lower() == "json" else "text"


def configure(force: bool = False) -> None:
    """Install the formatter on the `nongbao` loggers once (uvicorn keeps its own)."""
    global _CONFIGURED
    if _CONFIGURED and not force:
        install_redaction()
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format() == "json" else TextFormatter())
    root = logging.getLogger("nongbao")
    root.handlers = [handler]
    root.setLevel(os.environ.get("NONGBAO_LOG_LEVEL", "INFO").upper())
    root.propagate = False
    _CONFIGURED = True
    install_redaction()


def request_line(
    method: str,
    route: str,
    path: str,
    status: int,
    duration_ms: float,
    actor: str,
    client: str | None,
) -> None:
    logging.getLogger(REQUEST_LOGGER).info(
        "request",
        extra={
            "fields": {
                "method": method,
                "route": route,
                "path": path,
                "status": status,
                "duration_ms": round(duration_ms, 2),
                "actor": actor,
                "client": client or "-",
            }
        },
    )
