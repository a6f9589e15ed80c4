"""Pensioners in each notice's situation, and a service context on the test database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.crypto import Keyring, load_keyring
from backend.db import engine_for, session_scope
from backend.policy import load_policy
from backend.services import notices
from backend.services.context import SYSTEM, Ctx
from backend.services.notices import SendResult
from backend.sms import SmsGateway
from tests.backend.conftest import Api, make_settings, valid_id
from tests.conftest import TODAY
from tests.sms_sim import SmsSim


def pensioner(
    api: Api, seq: str, *, awarded_on: str, name: str = "赵大爷", phone: str | None = None
) -> str:
    """Born 1945, awarded on `awarded_on`: certified that day, valid a cycle (12 months) on."""
    extra = {"phone": phone} if phone else {}
    pid = api.enrol(
        valid_id("110105", "19450801", seq), name=name, enrolled_on="2010-07-05", **extra
    )
    r = api.post(f"/api/v1/persons/{pid}/award", "clerk", json={"awarded_on": awarded_on})
    assert r.status_code == 201, r.text
    return pid


def keyring(db_url: str, tmp_path: Path) -> Keyring:
    settings = make_settings(db_url, tmp_path)
    return load_keyring(settings.effective_key_file, settings.master_key)


@contextmanager
def service(db_url: str, tmp_path: Path) -> Iterator[Ctx]:
    with session_scope(engine_for(db_url)) as s:
        yield Ctx(
            session=s,
            policy=load_policy(),
            keyring=keyring(db_url, tmp_path),
            actor=SYSTEM,
            today=TODAY,
        )


def send(db_url: str, tmp_path: Path, sim: SmsSim, sender: str = "test") -> SendResult:
    """One sender's pass over the outbox, through the simulator."""
    return notices.send_pending(
        engine_for(db_url),
        keyring(db_url, tmp_path),
        load_policy(),
        SmsGateway(sim.url, sim.key),
        sender=sender,
    )


def sync(db_url: str, tmp_path: Path, sim: SmsSim) -> int:
    with service(db_url, tmp_path) as ctx:
        return notices.sync_receipts(ctx, SmsGateway(sim.url, sim.key))
