"""Structured logs: one line per request (route, status, duration, actor), as JSON or text.

NONGBAO_LOG_FORMAT=json gives one JSON object per line for a log shipper (journald, Loki,
ELK); anything else gives readable text. NONGBAO_LOG_LEVEL sets the level (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

REQUEST_LOGGER = "nongbao.request"
_CONFIGURED = False


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
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format() == "json" else TextFormatter())
    root = logging.getLogger("nongbao")
    root.handlers = [handler]
    root.setLevel(os.environ.get("NONGBAO_LOG_LEVEL", "INFO").upper())
    root.propagate = False
    _CONFIGURED = True


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
