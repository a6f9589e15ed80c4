"""`nongbao bank ...`: the files exchanged with the agency banks (docs/payments.md)."""

from __future__ import annotations

import json
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
    from backend.services import payroll_bank_file

    _, data = _in_ctx(lambda ctx: payroll_bank_file.payroll_file(ctx, run_id, bank))
    path.write_bytes(data)


@click.group()
def bank() -> None:
    """Agency banks: return files, re-issues, heirs' payouts, the bank simulator."""


def _failures(fail: tuple[str, ...], failures_file: Path | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if failures_file:
        out.update(json.loads(failures_file.read_text(encoding="utf-8")))
    for item in fail:
        key, sep, reason = item.rpartition("=")
        if not sep:
            raise click.BadParameter(f"--fail ACCOUNT_OR_ID=REASON, got {item!r}")
        out[key] = reason
    return out


@bank.command("simulate")
@click.option("--port", type=int, default=None, help="serve HTTP on this port (127.0.0.1)")
@click.option("--bank", "bank_code", default=None, help="the bank's layout, for --in/--out")
@click.option("--in", "in_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--fail",
    multiple=True,
    help="ACCOUNT_OR_ID=REASON (account_closed, holder_deceased, name_mismatch, "
    "ssc_account_inactive, other); repeatable",
)
@click.option("--failures", "failures_file", type=click.Path(exists=True, path_type=Path))
def simulate(
    port: int | None,
    bank_code: str | None,
    in_path: Path | None,
    out_path: Path | None,
    fail: tuple[str, ...],
    failures_file: Path | None,
) -> None:
    """A bank: answer a disbursement file with its return file (回盘), failing the lines named.

    With --port: an HTTP server (POST /banks/{code}/disbursements, PUT /failures). With
    --in/--out: one file in, its return file out."""
    from backend.banks import simulator
    from backend.banks.layout import BankFileError, load_banks

    failures = _failures(fail, failures_file)
    banks = load_banks()
    if in_path is not None:
        if out_path is None:
            raise click.UsageError("--in needs --out")
        try:
            data = simulator.answer(banks.get(bank_code), in_path.read_bytes(), failures)
        except (BankFileError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        out_path.write_bytes(data)
        click.echo(f"return file written to {out_path}")
        return
    if port is None:
        raise click.UsageError("give --port (HTTP server) or --in/--out (file drop)")
    srv = simulator.server(banks, failures, "127.0.0.1", port)
    click.echo(f"bank simulator on http://127.0.0.1:{srv.server_address[1]}", err=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


@bank.command("returns")
@click.argument("run_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def returns(run_id: str, path: Path, as_json: bool) -> None:
    """Import the bank's return file (回盘) of a payroll run (or of a disbursement `dsb_...`)."""
    from backend.answers_payments import ReturnImportOut
    from backend.services import bank_files, bank_returns

    data = path.read_bytes()

    def work(ctx: Any) -> ReturnImportOut:
        if run_id.startswith("dsb_"):
            return bank_returns.import_file(ctx, bank_files.get(ctx, run_id), data)
        return bank_returns.import_for_run(ctx, run_id, data)

    out = _in_ctx(work)
    human = (
        f"{'already imported: nothing changed; ' if out.replayed else ''}"
        f"paid {out.paid} lines ({out.paid_fen} fen), returned {out.returned} "
        f"({out.returned_fen} fen)"
    )
    click.echo(json.dumps(out.model_dump(), ensure_ascii=False) if as_json else human)


def transfer_in(path: Path, village: str, public_key: Path | None = None) -> dict[str, Any]:
    """`nongbao import transfer-in`: the service in one transaction, audited in it; the
    document's signature is checked against `public_key` (PEM) or a key the county knows."""
    from backend.services import transfers

    data = path.read_bytes()
    pem = public_key.read_bytes() if public_key is not None else None
    return _in_ctx(lambda ctx: transfers.transfer_in(ctx, data, village, pem))
