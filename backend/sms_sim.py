"""An SMS gateway simulator: a real HTTP server speaking the adapter's protocol (backend/sms.py).

`nongbao sms simulate --port 9100 [--key K] [--callback URL --callback-token T]`

It records every message (GET /messages), answers a repeated `ref` with the first message's
id (as the adapter expects of a real gateway), and makes a delivery receipt for each message:
kept for polling (GET /receipts?since=N) and, with --callback, posted to that URL.

Test controls (no key: the simulator only listens on the loopback by default):
  POST /control/fail   {"phone", "mode"}  mode: "reject" (400 on send), "down" (503 on send),
                                           "undeliverable" (accepted; receipt "failed"),
                                           "ok" (back to normal)
  POST /control/reset                      forget messages, receipts and failures
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import click
import httpx

from backend import clock

FAIL_MODES = ("reject", "down", "undeliverable", "ok")


@dataclass
class SimMessage:
    message_id: str
    to: str
    text: str
    ref: str
    at: str


@dataclass
class SimState:
    key: str
    callback: str | None = None
    callback_token: str = ""
    messages: list[SimMessage] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    by_ref: dict[str, str] = field(default_factory=dict)
    failing: dict[str, str] = field(default_factory=dict)
    send_calls: int = 0
    callbacks_accepted: int = 0
    callbacks_refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, text: str, ref: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.send_calls += 1
            mode = self.failing.get(to, "ok")
            if mode == "reject":
                return 400, {"error": "number rejected"}
            if mode == "down":
                return 503, {"error": "gateway down"}
            if ref in self.by_ref:
                return 200, {"message_id": self.by_ref[ref], "duplicate": True}
            message_id = f"sim-{len(self.messages) + 1:06d}"
            at = clock.now().isoformat()
            self.messages.append(SimMessage(message_id, to, text, ref, at))
            self.by_ref[ref] = message_id
            status = "failed" if mode == "undeliverable" else "delivered"
            receipt = {
                "seq": len(self.receipts) + 1,
                "message_id": message_id,
                "ref": ref,
                "status": status,
                "at": at,
            }
            self.receipts.append(receipt)
        if self.callback:
            threading.Thread(target=self._post_receipt, args=(receipt,), daemon=True).start()
        return 200, {"message_id": message_id}

    def _post_receipt(self, receipt: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.callback_token}"}
        for attempt in range(5):  # a receiver that is briefly away gets the receipt later
            try:
                r = httpx.post(str(self.callback), json=receipt, headers=headers, timeout=5)
                if r.status_code < 500:  # taken, or refused for good (a 4xx is not retried)
                    with self.lock:
                        if r.status_code < 300:
                            self.callbacks_accepted += 1
                        else:
                            self.callbacks_refused += 1
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5 * (attempt + 1))


class _Handler(BaseHTTPRequestHandler):
    server: _SimServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read /messages
        return

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(min(length, 65536)) or b"{}")
        except ValueError:
            return None

    def _authorised(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.server.state.key}"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        state = self.server.state
        if url.path == "/messages":
            with state.lock:
                self._answer(
                    200,
                    {
                        "messages": [asdict(m) for m in state.messages],
                        "send_calls": state.send_calls,
                        "callbacks_accepted": state.callbacks_accepted,
                        "callbacks_refused": state.callbacks_refused,
                    },
                )
        elif url.path == "/receipts":
            if not self._authorised():
                return self._answer(401, {"error": "bad key"})
            since = parse_qs(url.query).get("since", ["0"])[0]
            floor = int(since) if since.isdigit() else 0
            with state.lock:
                self._answer(200, {"receipts": [r for r in state.receipts if r["seq"] > floor]})
        else:
            self._answer(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        state = self.server.state
        body = self._body()
        if not isinstance(body, dict):
            return self._answer(400, {"error": "body is not a JSON object"})
        if path == "/send":
            if not self._authorised():
                return self._answer(401, {"error": "bad key"})
            to, text, ref = (body.get(k) for k in ("to", "text", "ref"))
            if not all(isinstance(v, str) and v for v in (to, text, ref)):
                return self._answer(400, {"error": "to, text and ref are required"})
            self._answer(*state.send(str(to), str(text), str(ref)))
        elif path == "/control/fail":
            phone, mode = body.get("phone"), body.get("mode")
            if not isinstance(phone, str) or mode not in FAIL_MODES:
                return self._answer(400, {"error": f"mode is one of {FAIL_MODES}"})
            with state.lock:
                state.failing[phone] = str(mode)
            self._answer(200, {"phone": phone, "mode": mode})
        elif path == "/control/reset":
            with state.lock:
                state.messages.clear()
                state.receipts.clear()
                state.by_ref.clear()
                state.failing.clear()
                state.send_calls = 0
            self._answer(200, {"reset": True})
        else:
            self._answer(404, {"error": "not found"})


class _SimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        super().__init__(address, _Handler)
        self.state = state


def make_server(host: str, port: int, state: SimState) -> ThreadingHTTPServer:
    return _SimServer((host, port), state)


@click.group()
def sms() -> None:
    """SMS: the gateway simulator."""


@sms.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9100, show_default=True, type=int)
@click.option("--key", default="sim-key", show_default=True, help="the API key senders present")
@click.option("--callback", default=None, help="URL to post delivery receipts to")
@click.option("--callback-token", default="", help="bearer token for the callback")
def simulate(host: str, port: int, key: str, callback: str | None, callback_token: str) -> None:
    """Run an SMS gateway simulator that records messages and sends delivery receipts."""
    state = SimState(key=key, callback=callback, callback_token=callback_token)
    server = make_server(host, port, state)
    click.echo(f"sms simulator on http://{host}:{port}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
