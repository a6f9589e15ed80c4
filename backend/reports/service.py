"""One entry point for every report: build it, render it, or write all its files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlmodel import Session

from backend import clock
from backend.crypto import Keyring
from backend.errors import field_error
from backend.policy import Policy
from backend.reports import certification, coverage, fund, publicity, statement
from backend.reports.model import Report
from backend.reports.render import FORMATS, render

KINDS = ("monthly-statement", "fund", "coverage", "publicity", "certification")


@dataclass
class Params:
    run_id: str | None = None
    year: int | None = None
    on: date | None = None
    village: str | None = None
    allowed: tuple[str, ...] | None = None  # a field worker's villages; None = every village


def build(
    s: Session,
    keyring: Keyring,
    policy: Policy,
    kind: str,
    p: Params,
    *,
    data_dir: Path | None = None,
    today: date | None = None,
) -> Report:
    today = today or clock.today()
    if kind == "monthly-statement":
        if not p.run_id:
            raise field_error(
                "run_id", "the monthly statement is of one payroll run: give its run_id"
            )
        return statement.report(s, keyring, p.run_id, p.village, p.allowed)
    if kind == "certification":
        return certification.report(s, keyring, policy, p.on or today, p.village, p.allowed)
    year = p.year or today.year
    first = policy.scheme_start.year
    if not first <= year <= today.year:
        raise field_error("year", f"the year must be between {first} and {today.year}")
    if kind == "fund":
        return fund.report(s, year)
    if kind == "coverage":
        return coverage.report(
            s, year, first_year=first, data_dir=data_dir, village=p.village, allowed=p.allowed
        )
    if kind == "publicity":
        return publicity.report(s, keyring, year, p.village, p.allowed)
    raise field_error("kind", f"unknown report {kind!r}; one of {', '.join(KINDS)}")


def file_stem(report: Report) -> str:
    key = (
        report.summary.get("period") or report.summary.get("year") or report.summary.get("on") or ""
    )
    return f"{report.kind}-{key}" if key else report.kind


def write_files(report: Report, folder: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """The report in each format, plus every chart as PNG; returns the paths written."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    stem = file_stem(report)
    written = []
    for fmt in formats:
        path = folder / f"{stem}.{fmt}"
        if fmt == "json":
            path.write_text(
                json.dumps(report.as_json(), ensure_ascii=False, indent=1, default=str),
                encoding="utf-8",
            )
        else:
            path.write_bytes(render(report, fmt))
        written.append(path)
    for chart in report.charts:
        path = folder / f"{stem}-{chart.name}.png"
        path.write_bytes(chart.draw())
        written.append(path)
    return written
