"""What every service call needs: the unit of work, the policy, the keys, who acts, today."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlmodel import Session

from backend import clock
from backend.crypto import Keyring
from backend.policy import Policy


@dataclass(frozen=True)
class Actor:
    kind: str  # user | device | system
    name: str
    role: str
    villages: tuple[str, ...] = ()
    device_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


SYSTEM = Actor(kind="system", name="nongbao", role="admin")


@dataclass
class Ctx:
    session: Session
    policy: Policy
    keyring: Keyring
    actor: Actor = SYSTEM
    today: date = field(default_factory=clock.today)
    # where the county's keys live (the signing key of receipts, audit heads, transfer
    # documents); None: the configured key file's directory
    key_dir: Path | None = None
