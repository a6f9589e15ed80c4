"""A virtual social security card for the vsmartcard `vpcd` PC/SC reader driver.

`python -m hardware.vcard --fixture FILE` connects to vpcd (127.0.0.1:35963), which makes
the card appear in the "Virtual PCD 00 00" reader; closing the connection removes it.
It lets the real PC/SC stack (pcscd, libpcsclite, pyscard) be tested and demonstrated
without a card.

The vpcd protocol: every message, both ways, is a 2-byte big-endian length then the
payload. A 1-byte payload from vpcd is a control code (0 power off, 1 power on, 2 reset,
4 get ATR; only "get ATR" is answered, with the ATR); anything longer is a command APDU,
answered with the response APDU.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from hardware.ssc_applet import FILE_IDS, SocialSecurityCardApplet, SscFixture

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963  # 0x8C7B, the CHANNELID of the first slot in /etc/reader.conf.d/vpcd
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class CardRemoved(Exception):
    """The fixture says the card leaves the reader now."""


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("vpcd closed the connection")
        data += chunk
    return data


def receive_message(sock: socket.socket) -> bytes:
    size = int.from_bytes(_receive_exactly(sock, 2), "big")
    return _receive_exactly(sock, size)


def send_message(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)


class VirtualCard:
    """One card inserted into vpcd for as long as `serve()` runs."""

    def __init__(self, fixture: SscFixture, host: str = VPCD_HOST, port: int = VPCD_PORT):
        self.applet = SocialSecurityCardApplet(fixture)
        self.host, self.port = host, port
        self.apdu_count = 0

    def answer(self, message: bytes) -> bytes | None:
        """The reply to one vpcd message, or None for control codes that get none."""
        if len(message) == 1:
            if message[0] in (POWER_ON, RESET):
                self.applet.reset()
            return self.applet.fixture.atr if message[0] == GET_ATR else None
        self.apdu_count += 1
        limit = self.applet.fixture.remove_after_apdus
        if limit is not None and self.apdu_count > limit:
            raise CardRemoved
        return self.applet.process(message)

    def serve(self, connect_timeout: float = 10.0) -> str:
        """Inserts the card and answers until vpcd hangs up or the card is 'removed'."""
        with socket.create_connection((self.host, self.port), timeout=connect_timeout) as sock:
            sock.settimeout(None)
            try:
                while True:
                    reply = self.answer(receive_message(sock))
                    if reply is not None:
                        send_message(sock, reply)
            except CardRemoved:
                return f"card removed after {self.apdu_count - 1} APDUs"
            except ConnectionError:
                return "vpcd closed the connection"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware.vcard", description=__doc__)
    parser.add_argument("--fixture", type=Path, required=True, help="card contents (JSON)")
    parser.add_argument("--host", default=VPCD_HOST)
    parser.add_argument("--port", type=int, default=VPCD_PORT)
    parser.add_argument("--remove-after", type=int, metavar="N", help="leave after N APDUs")
    parser.add_argument(
        "--missing-file", action="append", default=[], choices=sorted(FILE_IDS), help="answer 6A82"
    )
    parser.add_argument(
        "--protected-file",
        action="append",
        default=[],
        choices=sorted(FILE_IDS),
        help="answer 6982",
    )
    args = parser.parse_args(argv)
    fixture = SscFixture.load(args.fixture)
    if args.remove_after is not None:
        fixture.remove_after_apdus = args.remove_after
    fixture.missing_files |= {FILE_IDS[name] for name in args.missing_file}
    fixture.protected_files |= {FILE_IDS[name] for name in args.protected_file}
    try:
        outcome = VirtualCard(fixture, args.host, args.port).serve()
    except OSError as exc:
        print(f"vcard: cannot reach vpcd at {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"vcard: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
