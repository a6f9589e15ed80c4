"""A real backend server in a subprocess (uvicorn), for tests that need real concurrency or kills."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NONGBAO_DATABASE_URL": db_url,
        "NONGBAO_DATA_DIR": str(tmp_path / "data"),
        "NONGBAO_KEY_FILE": str(tmp_path / "keys" / "master.key"),
        **extra,
    }


@contextmanager
def live_server(
    db_url: str, tmp_path: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nongbao", "serve", "--port", str(port), "--workers", str(workers)],
        env=server_env(db_url, tmp_path, **(env or {})),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"server exited: {(tmp_path / f'server-{port}.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        # pytest shows captured output only for a failing test: the server's side of it
        print(
            f"--- server log (last lines) ---\n{(tmp_path / f'server-{port}.log').read_text(errors='replace')[-6000:]}"
        )
