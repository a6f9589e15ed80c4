"""The SMS gateway simulator as a real process on a free port (`nongbao sms simulate`).

Use the fixture `sms_sim` (import it into a conftest or test module):

    def test_x(sms_sim: SmsSim) -> None:
        SmsGateway(sms_sim.url, sms_sim.key).send("13800000000", "你好", ref="r1")
        assert sms_sim.messages()[0]["text"] == "你好"

`start_sms_sim(tmp_path, callback=..., callback_token=...)` starts one with receipts posted to
a callback (a live backend's POST /api/v1/sms/receipts).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ROOT, free_port

SIM_KEY = "sim-test-key"


@dataclass
class SmsSim:
    url: str
    key: str

    def messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/messages", timeout=5).json()["messages"])

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/messages", timeout=5).json())

    def fail(self, phone: str, mode: str) -> None:
        r = httpx.post(f"{self.url}/control/fail", json={"phone": phone, "mode": mode}, timeout=5)
        assert r.status_code == 200, r.text


@contextmanager
def start_sms_sim(
    tmp_path: Path, *, callback: str | None = None, callback_token: str = ""
) -> Iterator[SmsSim]:
    port = free_port()
    args = [sys.executable, "-m", "nongbao", "sms", "simulate", "--port", str(port)]
    args += ["--key", SIM_KEY]
    if callback:
        args += ["--callback", callback, "--callback-token", callback_token]
    log_path = tmp_path / f"sms-sim-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"sms simulator exited: {log_path.read_text()[-2000:]}")
                try:
                    httpx.get(f"{url}/messages", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("sms simulator did not start within 30 s") from None
                    time.sleep(0.1)
            yield SmsSim(url, SIM_KEY)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def sms_sim(tmp_path: Path) -> Iterator[SmsSim]:
    with start_sms_sim(tmp_path) as sim:
        yield sim
