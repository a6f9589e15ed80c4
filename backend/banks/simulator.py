"""A bank simulator: reads a disbursement file in its bank's layout and answers the return
file (回盘) the bank would send, failing the lines it is told to fail.

It runs as a real HTTP server (`nongbao bank simulate --port N`): POST the disbursement file
to /banks/{code}/disbursements and the body of the answer is the return file. Or as a file
drop (`nongbao bank simulate --in FILE --out FILE`). Failures are given by account number or
ID number: {"6217 0000 1111": "account_closed", "110105194508010211": "holder_deceased"}.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from backend.banks.layout import PAID, REASONS, BankFileError, Banks, Layout

# what the bank writes beside its code (the reason text of the rural commercial bank)
REASON_TEXT = {
    "account_closed": "账户已销户",
    "holder_deceased": "户主已死亡",
    "name_mismatch": "户名不符",
    "ssc_account_inactive": "社保卡金融账户未激活",
    "other": "其他原因",
}


def answer(layout: Layout, data: bytes, failures: Mapping[str, str]) -> bytes:
    """The return file for a disbursement file; a line fails when its account or ID number
    is in `failures` (value: the reason)."""
    unknown = set(failures.values()) - set(REASONS)
    if unknown:
        raise ValueError(f"unknown failure reasons {sorted(unknown)}; use {REASONS}")
    header, details, _ = layout.read(data, returns=False)
    out = []
    for d in details:
        reason = failures.get(d.get("account", "")) or failures.get(d.get("id_number", ""))
        meaning = reason or PAID
        out.append(
            {
                **d,
                "result": layout.result_code(meaning),
                "reason": REASON_TEXT.get(meaning, "成功") if reason else "成功",
            }
        )
    paid = [o for o in out if o["result"] == layout.result_code(PAID)]
    back = [o for o in out if o["result"] != layout.result_code(PAID)]
    total = sum(int(o["amount_fen"]) for o in out)
    head = {**header, "count": len(out), "total_fen": total}
    tail = {
        "count": len(out),
        "total_fen": total,
        "paid_count": len(paid),
        "paid_fen": sum(int(o["amount_fen"]) for o in paid),
        "returned_count": len(back),
        "returned_fen": sum(int(o["amount_fen"]) for o in back),
    }
    return layout.write(head, out, tail, returns=True)


class _Handler(BaseHTTPRequestHandler):
    banks: Banks
    failures: dict[str, str]
    received: list[bytes]

    def do_POST(self) -> None:
        parts = urlparse(self.path).path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "banks" or parts[2] != "disbursements":
            self._send(404, b"POST /banks/{code}/disbursements", "text/plain")
            return
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        try:
            layout = self.banks.get(parts[1])
            body = answer(layout, data, self.failures)
        except (BankFileError, ValueError) as exc:
            self._send(422, str(exc).encode(), "text/plain; charset=utf-8")
            return
        self.received.append(data)
        self._send(200, body, f"text/plain; charset={layout.encoding}")

    def do_PUT(self) -> None:
        """PUT /failures with a JSON object replaces the failures to simulate."""
        if urlparse(self.path).path != "/failures":
            self._send(404, b"PUT /failures", "text/plain")
            return
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.failures.clear()
        self.failures.update(json.loads(data or b"{}"))
        self._send(204, b"", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # account numbers stay out of logs
        return


def server(banks: Banks, failures: dict[str, str], host: str, port: int) -> ThreadingHTTPServer:
    handler = type(
        "BankHandler", (_Handler,), {"banks": banks, "failures": failures, "received": []}
    )
    return ThreadingHTTPServer((host, port), handler)


def serve_in_thread(banks: Banks, failures: dict[str, str], port: int = 0) -> ThreadingHTTPServer:
    srv = server(banks, failures, "127.0.0.1", port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv
