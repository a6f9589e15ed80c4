"""`nongbao bank ...`: the files exchanged with the agency banks (docs/payments.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from backend.config import get_settings

T = TypeVar("T")
CLI_ACTOR_NAME = "cli"


@contextmanager
def _ctx() -> Iterator[Any]:
    """A service context on the configured database, as the CLI's admin; DomainError -> exit 1."""
    from backend import clock
    from backend.crypto import load_keyring
    from backend.db import engine_for, require_migrated, session_scope
    from backend.errors import DomainError
    from backend.policy import load_policy
    from backend.services.context import Actor, Ctx

    settings = get_settings()
    engine = engine_for(settings.effective_database_url)
    require_migrated(engine)
    keyring = load_keyring(settings.effective_key_file, settings.master_key)
    actor = Actor(kind="user", name=CLI_ACTOR_NAME, role="admin")
    try:
        with session_scope(engine) as s:
            yield Ctx(s, load_policy(settings.policy_file), keyring, actor, clock.today())
    except DomainError as exc:
        raise click.ClickException(
            exc.errors[0]["message"] if exc.errors else f"{exc.detail} ({exc.code})"
        ) from None


def _in_ctx(fn: Callable[[Any], T]) -> T:
    with _ctx() as ctx:
        return fn(ctx)


def write_run_file(run_id: str, path: Path, bank: str | None) -> None:
    from backend.services import bank_files

    _, data = _in_ctx(lambda ctx: bank_files.payroll_file(ctx, run_id, bank))
    path.write_bytes(data)


@click.group()
def bank() -> None:
    """Agency banks: return files, re-issues, heirs' payouts, the bank simulator."""
