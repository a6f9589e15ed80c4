"""The `nongbao` command.

Each part of the system brings its own click group; they are imported only when their
subcommand runs, so the backend server never loads Kivy and the kiosk never loads
PostgreSQL drivers.
"""

from __future__ import annotations

import importlib
import sys

import click

# subcommand -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("backend.cli:serve", "run the backend (uvicorn)"),
    "db": ("backend.cli:db", "database migrations"),
    "user": ("backend.cli:user", "users of the backend"),
    "policy": ("backend.cli:policy", "the county's policy timeline"),
    "ledger": ("backend.cli:ledger", "ledger invariants"),
    "interest": ("backend.cli:interest", "yearly interest runs"),
    "import": ("backend.cli:import_", "imports (old-scheme balances, ...)"),
    "payroll": ("backend.cli:payroll", "monthly payroll"),
    "bank": ("backend.cli_bank:bank", "agency banks: returns, re-issues, heirs, the simulator"),
    "receipts": ("backend.cli_cert:receipts", "signed receipts"),
    "audit": ("backend.cli_cert:audit", "the audit chain"),
    "keys": ("backend.cli_cert:keys", "data keys: rotate and re-seal, status"),
    "archives": ("backend.archives_cli:archives", "document archives: retention disposal"),
    "demo": ("backend.cli:demo", "the demo county"),
    # backend.pad_api adds the API attack species of `faces pad-evaluate` to biometrics.cli
    "faces": ("backend.pad_api:faces", "the face engine: evaluate, calibrate, bench, pad-evaluate"),
    "devices": ("hardware.cli:devices", "list, test and use attached devices"),
    "kiosk": ("kiosk_app.cli:kiosk", "the self-service kiosk"),
    "field": ("field_app.cli:field", "the field app"),
    "bench": ("backend.bench:bench", "performance benchmarks"),
    "report": (
        "backend.reports.cli:report",
        "reports: monthly statement, fund, coverage, publicity, certification",
    ),
    "sms": ("backend.sms_sim:sms", "SMS: the gateway simulator"),
    "notices": ("backend.notices_cli:notices", "SMS notices: send the outbox"),
    "backup": (
        "backend.cli:backup",
        "back up the database (SQLite online backup, pg_dump) and the document archive",
    ),
    "restore": ("backend.cli:restore", "restore a backup made by `nongbao backup`"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            reason = str(exc)  # `exc` itself is gone once the except block ends

            @click.command(name=name, help=f"(unavailable: {reason})")
            def unavailable() -> None:
                raise click.ClickException(
                    f"`nongbao {name}` is not available here: {reason}; run `make setup`"
                )

            return unavailable

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Nongbao: survival certification and the pension ledger of a county."""


def one_line(exc: BaseException) -> str:
    """What a user reads of an unexpected error: a database error without its SQL and bound
    values (SQLAlchemy puts both in str(exc)), only the driver's first line."""
    orig = getattr(exc, "orig", None)
    if type(exc).__module__.startswith("sqlalchemy") and orig is not None:
        first = (str(orig).strip().splitlines() or [""])[0]
        return f"the database refused this ({type(exc).__name__}): {first}"
    return f"{type(exc).__name__}: {exc}"


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("nongbao: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"nongbao: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("nongbao: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # one line on stderr, never a traceback for a user
        click.echo(f"nongbao: {one_line(exc)}", err=True)
        sys.exit(1)
    if isinstance(code, int):
        sys.exit(code)
