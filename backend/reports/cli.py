"""`nongbao report ...`: the centre's reports as files (PDF, XLSX, CSV, JSON, chart PNGs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from backend import clock
from backend.reports.render import FORMATS

FORMAT_CHOICE = click.Choice([*FORMATS, "all"])


def _produce(kind: str, out: Path, fmt: str, as_json: bool, **params: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from backend.cli import service_ctx
    from backend.config import get_settings
    from backend.errors import DomainError
    from backend.reports import service
    from backend.reports.render import _human

    try:
        with service_ctx() as ctx:
            report = service.build(
                ctx.session,
                ctx.keyring,
                ctx.policy,
                kind,
                service.Params(**params),
                data_dir=get_settings().data_dir,
            )
            written = service.write_files(report, out, FORMATS if fmt == "all" else (fmt,))
    except DomainError as exc:
        raise click.ClickException(exc.errors[0]["message"] if exc.errors else exc.detail) from None
    if as_json:
        click.echo(
            json.dumps(
                {"report": kind, "summary": report.summary, "files": [str(p) for p in written]},
                ensure_ascii=False,
                default=str,
            )
        )
        return
    console = Console()
    console.print(f"[bold]{report.title}[/]")
    for section in report.sections[:2]:  # the summary sections; the files hold the rest
        table = Table(*[c.label for c in section.columns], title=section.title)
        for row in [*section.rows[:30], *([section.totals] if section.totals else [])]:
            table.add_row(*[_human(c, row.get(c.key)) for c in section.columns])
        console.print(table)
    for note in report.notes[-1:]:
        console.print(note)
    for path in written:
        click.echo(f"wrote {path}")


F = TypeVar("F", bound=Callable[..., Any])


def _options(f: F) -> F:
    f = click.option(
        "--json", "as_json", is_flag=True, help="print one JSON object (summary and files)"
    )(f)
    f = click.option("--format", "fmt", type=FORMAT_CHOICE, default="pdf", show_default=True)(f)
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("reports"),
        show_default=True,
        help="folder for the files",
    )(f)


@click.group()
def report() -> None:
    """The centre's reports: monthly statement, fund, coverage, publicity, certification."""


@report.command("statement")
@click.argument("run_id")
@click.option("--village", default=None)
@_options
def statement_cmd(run_id: str, village: str | None, out: Path, fmt: str, as_json: bool) -> None:
    """每月明细表 of one payroll run, village by village."""
    _produce("monthly-statement", out, fmt, as_json, run_id=run_id, village=village)


@report.command("fund")
@click.option("--year", type=int, required=True)
@_options
def fund_cmd(year: int, out: Path, fmt: str, as_json: bool) -> None:
    """基金收支: a year's income, expenditure and balance (checked against the ledger)."""
    _produce("fund", out, fmt, as_json, year=year)


@report.command("coverage")
@click.option("--year", type=int, required=True)
@click.option("--village", default=None)
@_options
def coverage_cmd(year: int, village: str | None, out: Path, fmt: str, as_json: bool) -> None:
    """Enrolment, continuation and take-up, with the trend chart."""
    _produce("coverage", out, fmt, as_json, year=year, village=village)


@report.command("publicity")
@click.option("--year", type=int, required=True)
@click.option("--village", default=None)
@_options
def publicity_cmd(year: int, village: str | None, out: Path, fmt: str, as_json: bool) -> None:
    """公示: contributors and pensioners, names and ID numbers masked."""
    _produce("publicity", out, fmt, as_json, year=year, village=village)


@report.command("certification")
@click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="as of this date (default today)",
)
@click.option("--village", default=None)
@_options
def certification_cmd(
    on: datetime | None, village: str | None, out: Path, fmt: str, as_json: bool
) -> None:
    """Certification status per village and the work list (due, overdue, suspended)."""
    day = on.date() if on is not None else clock.today()
    _produce("certification", out, fmt, as_json, on=day, village=village)
