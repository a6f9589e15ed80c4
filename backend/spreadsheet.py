"""Text that reaches a spreadsheet is inert (OWASP "CSV injection"), and writable.

A cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return is taken for a
formula by Excel, LibreOffice and WPS: a resident named `=HYPERLINK("http://…","查看")` would
become a live link (or worse) on the county staff's own machines. So:
  - CSV: such a text gets a leading single quote (`'=HYPERLINK(…)`), which spreadsheet programs
    show as text and which a person reading the file recognises;
  - XLSX: such a cell is written as a string with Excel's quote prefix, never as a formula.
Only text is touched: numbers (a negative fen amount) are numbers, not formulas.

Control characters (Unicode Cc/Cf, a line break excepted) are dropped first: the API refuses
them since backend/validation.py, but rows stored before must not break a report (XLSX cannot
hold most of them at all).
"""

from __future__ import annotations

import unicodedata
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def clean_text(text: str) -> str:
    """Text without control characters (a line break kept)."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cf"))


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def csv_text(text: str) -> str:
    """A text for a CSV cell: clean, and quoted with a leading `'` if it would be a formula."""
    text = clean_text(text)
    return "'" + text if is_formula_like(text) else text


def csv_cell(value: Any) -> Any:
    """Any CSV value: text made inert, numbers and None as they are."""
    return csv_text(value) if isinstance(value, str) else value


def xlsx_value(value: Any) -> Any:
    """A value to put in an XLSX cell (see `make_inert` for after it is placed)."""
    return clean_text(value) if isinstance(value, str) else value


def make_inert(cell: Any) -> None:
    """An openpyxl cell holding formula-like text becomes a plain string cell."""
    if isinstance(cell.value, str) and (cell.data_type == "f" or is_formula_like(cell.value)):
        cell.data_type = "s"
        cell.quotePrefix = True
