"""The fault test: a real backend (uvicorn), a TCP proxy that cuts connections in the middle
of requests and of answers, and the sync process killed with SIGKILL in the middle of a sync
and started again. At the end every visit is on the backend exactly once."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from biometrics.image import load_image
from client.capture import DeviceKey
from field_app import vault as vlt
from field_app.client import FieldClient
from field_app.devices import AlwaysGoodGate, SimulatedWatcher, encode_jpeg
from field_app.flow import FieldFlow
from field_app.ports import Devices
from field_app.session import FieldSession
from field_app.store import DeviceStore
from tests.backend.cert_helpers import (
    COMPANION,
    ENROL_A,
    ENROL_B,
    GREY_B,
    SAME_A,
    enrol_files,
    photo,
)
from tests.backend.conftest import PASSWORD, bootstrap, valid_id
from tests.field.conftest import PIN, FixedMatcher, Locator
from tests.field.test_sync import show_face
from tests.live import ROOT, live_server

Limits = tuple[int | None, int | None]  # bytes of the request, of the answer let through


class CuttingProxy:
    """Forwards TCP to the backend; `policy(n)` says, for the n-th connection, after how
    many bytes of the request and of the answer the connection is cut (None: never)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.policy: Callable[[int], Limits] = lambda n: (None, None)
        self.connections = 0
        self.cuts = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            n, self.connections = self.connections, self.connections + 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            req_limit, resp_limit = self.policy(n)
            both = (client, upstream)
            threading.Thread(
                target=self._pump, args=(client, upstream, req_limit, both), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, resp_limit, both), daemon=True
            ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        limit: int | None,
        both: tuple[socket.socket, socket.socket],
    ) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in both:  # a cut (or an end) closes the whole connection, as a lost signal does
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@contextmanager
def proxied(base: str) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(int(base.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()


def staff(base: str, role: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=60)
    token = c.post("/api/v1/auth/token", data={"username": role, "password": PASSWORD}).json()[
        "access_token"
    ]
    c.headers["Authorization"] = f"Bearer {token}"
    return c


def register_phone(base: str, data_dir: Path) -> None:
    """The phone makes its capture key in its data folder; the admin registers the public
    key as a field device (signed captures)."""
    key = DeviceKey.load_or_create(data_dir)
    r = staff(base, "admin").post(
        "/api/v1/devices", json={"name": "phone", "kind": "field", "public_key": key.public_b64}
    )
    assert r.status_code == 201, r.text


def pensioners(clerk: httpx.Client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = clerk.post(
            "/api/v1/persons",
            json={
                "id_number": valid_id("110105", "19500101", f"{i + 1:02d}1"),
                "name": f"老人{i}",
                "village_code": "V001",
                "enrolled_on": "2010-08-01",
                "homebound": True,
            },
        )
        assert r.status_code == 201, r.text
        pid = r.json()["person_id"]
        assert clerk.post(
            f"/api/v1/persons/{pid}/award", json={"awarded_on": "2025-06-01"}
        ).status_code in (200, 201)
        ids.append(pid)
    return ids


def states(db: Path) -> dict[str, tuple[str, int]]:
    conn = sqlite3.connect(db)  # kind, state and attempts are in clear: no PIN needed to watch
    try:
        return {
            cid: (state, attempts)
            for cid, state, attempts in conn.execute(
                "SELECT client_id, state, attempts FROM outbox"
            )
        }
    finally:
        conn.close()


def start_sync(data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NONGBAO_FIELD_PIN": PIN}
    return subprocess.Popen(
        [sys.executable, "-m", "field_app.sync", str(data), "--fast-kdf", "--base-delay", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(
    check: Callable[[], bool], proc: subprocess.Popen[bytes], seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the sync did not get there in time"
        assert proc.poll() is None or check(), (
            f"the sync exited early: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
        time.sleep(0.05)


@pytest.mark.postgres
def test_cut_connections_and_a_killed_sync_lose_nothing_and_double_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    bootstrap(pg_url, tmp_path)
    with live_server(pg_url, tmp_path) as base, proxied(base) as proxy:
        clerk = staff(base, "clerk")
        ids = pensioners(clerk, 6)
        for pid, name in ((ids[0], ENROL_A), (ids[1], ENROL_B)):
            r = clerk.post(
                f"/api/v1/persons/{pid}/face",
                files=enrol_files(name, COMPANION[name]),
            )
            assert r.status_code == 201, r.text

        # the worker signs in and downloads the list through the proxy, then visits offline
        data = tmp_path / "phone"
        register_phone(base, data)
        session = FieldSession(
            DeviceStore(data / "field.sqlite3", cost=vlt.FAST_COST),
            client_factory=lambda url, tok: FieldClient(url, token=tok),
        )
        session.sign_in_online(f"http://127.0.0.1:{proxy.port}", "field_worker", PASSWORD, PIN)
        session.download_worklist()
        flow = FieldFlow(
            session,
            Devices(
                AlwaysGoodGate(), SimulatedWatcher(), FixedMatcher(0.4), Locator(), encode_jpeg
            ),
        )
        flow.screen = "list"
        cids = []
        for pid, picture in ((ids[0], SAME_A), (ids[1], GREY_B)):
            assert flow.select(pid) and flow.start_face()
            show_face(flow, load_image(photo(picture)), lambda: None)
            flow.to_attest()
            cids.append(flow.save_certification(True, "卧床"))
        for pid in ids[2:]:
            assert flow.select(pid)
            cids.append(flow.save_not_home("锁门"))
        session.store.close()
        db = data / "field.sqlite3"
        assert all(cids) and len(states(db)) == 6

        # 1: every answer is cut after 20 bytes: the backend records, the phone never hears; killed mid-retry
        proxy.policy = lambda n: (None, 20)
        proc = start_sync(data)
        wait_for(lambda: sum(a for _, a in states(db).values()) >= 4, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert all(s in ("pending", "sending") for s, _ in states(db).values())

        # 2: requests cut mid-upload and answers cut, every other connection; killed again once some are through
        phase1_cuts = proxy.cuts
        assert phase1_cuts >= 3
        # (the client keeps connections alive: a connection lets ~1 KB of answers through, then is cut)
        start = (
            proxy.connections
        )  # the first connection is cut mid-upload, the next mid-answer, ...
        proxy.policy = lambda n: [(700, None), (None, 50), (None, 1500)][(n - start) % 3]
        proc = start_sync(data)
        wait_for(lambda: any(s == "done" for s, _ in states(db).values()), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proxy.cuts > phase1_cuts

        # 3: the signal is back: the sync finishes on its own
        proxy.policy = lambda n: (None, None)
        proc = start_sync(data)
        assert proc.wait(timeout=180) == 0, proc.stderr.read().decode() if proc.stderr else ""
        final = states(db)
        assert {s for s, _ in final.values()} == {"done"} and sum(a for _, a in final.values()) > 6

    # exactly once on the backend
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        certs = conn.execute(
            sa.text("SELECT client_id, outcome FROM certification WHERE channel = 'field'")
        ).all()
        visits = (
            conn.execute(
                sa.text("SELECT key FROM idempotency_record WHERE scope = 'POST /field/visits'")
            )
            .scalars()
            .all()
        )
        audits = (
            conn.execute(
                sa.text("SELECT subject FROM audit_event WHERE action = 'field.visit.not_at_home'")
            )
            .scalars()
            .all()
        )
        challenges_used = conn.execute(
            sa.text("SELECT count(*) FROM challenge WHERE used_at IS NOT NULL")
        ).scalar()
        cases = conn.execute(sa.text("SELECT person_id FROM review_case")).scalars().all()
    engine.dispose()
    saved = [c for c in cids if c is not None]  # all of them (asserted above)
    assert sorted(c for c, _ in certs) == sorted(saved[:2]) and sorted(o for _, o in certs) == [
        "passed",
        "referred",
    ]
    assert sorted(visits) == sorted(saved[2:]) and sorted(audits) == sorted(ids[2:])
    assert challenges_used == 2 and cases == [ids[1]]
