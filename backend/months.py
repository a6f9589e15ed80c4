"""Months as `YYYY-MM` strings: parsing, arithmetic and ranges."""

from __future__ import annotations

import re
from datetime import date

from backend.errors import field_error

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse(text: str, field: str = "period") -> str:
    if not isinstance(text, str) or not _MONTH.match(text):
        raise field_error(field, f"a month is written YYYY-MM, e.g. 2026-03; got {text!r}")
    return text


def of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def from_index(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def add(month: str, n: int) -> str:
    return from_index(index(month) + n)


def span(first: str, last: str) -> list[str]:
    return [from_index(i) for i in range(index(first), index(last) + 1)]


def first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)
