"""One validator for every text and date a client sends (pure pydantic + the clock).

Text: control characters (Unicode categories Cc and Cf: NUL, escape, bidi overrides, zero-width
joiners, ...) are refused in every field; ordinary space is fine. Line breaks are allowed only in
fields marked multi-line (`Text`: notes, reasons, evidence); every other text is one line.

Dates: between 1900-01-01 and a year after today (the product clock): nobody in the scheme was
born before 1900, and no act is recorded more than a year ahead. A cancellation dated 0001-01-01
is a typing error, not a date.

Request models get this by subclassing `Checked` (the field check runs for every field, so a new
field is covered without remembering to annotate it); single values (form fields, queries) use
the `Line` / `Text` / `PlausibleDate` types.
"""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from backend import clock

EARLIEST = date(1900, 1, 1)
AHEAD = timedelta(days=366)
LINE_BREAKS = frozenset("\n\r")


class MultiLine:
    """Marker in Annotated[...]: this text may span lines."""

    def __repr__(self) -> str:
        return "MultiLine()"


MULTI_LINE = MultiLine()


def bad_character(text: str, *, multi_line: bool = False) -> str | None:
    """The first character a text may not hold, or None."""
    for ch in text:
        if multi_line and ch in LINE_BREAKS:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return ch
    return None


def check_text(text: str, *, multi_line: bool = False) -> str:
    ch = bad_character(text, multi_line=multi_line)
    if ch is None:
        return text
    if ch in LINE_BREAKS:
        raise PydanticCustomError("line_break", "this field is one line: no line breaks")
    raise PydanticCustomError(
        "control_character",
        "a control character (U+{point}) is not allowed in text",
        {"point": f"{ord(ch):04X}"},
    )


def latest() -> date:
    return clock.today() + AHEAD


def check_date(value: date) -> date:
    if not EARLIEST <= value <= latest():
        raise PydanticCustomError(
            "date_out_of_range",
            "a date between {earliest} and {latest} is expected",
            {"earliest": EARLIEST.isoformat(), "latest": latest().isoformat()},
        )
    return value


def _check_line(text: str) -> str:
    return check_text(text)


def _check_multi_line(text: str) -> str:
    return check_text(text, multi_line=True)


Line = Annotated[str, AfterValidator(_check_line)]
Text = Annotated[str, MULTI_LINE, AfterValidator(_check_multi_line)]
PlausibleDate = Annotated[date, AfterValidator(check_date)]


def check_value(value: Any, *, multi_line: bool = False) -> Any:
    """Walk a validated value: strings, dates and the strings/dates inside lists and dicts."""
    if isinstance(value, str):
        return check_text(value, multi_line=multi_line)
    if isinstance(value, date):  # a datetime is a date too
        check_date(value if type(value) is date else value.date())  # type: ignore[attr-defined]
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            check_value(item, multi_line=multi_line)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key)
            check_value(item, multi_line=multi_line)
    return value


class Checked(BaseModel):
    """Base of request bodies: every text and date field is checked (see the module doc)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        multi_line = field is not None and (
            any(isinstance(m, MultiLine) for m in field.metadata) or _marked(field.annotation)
        )
        return check_value(value, multi_line=multi_line)


def _marked(annotation: Any) -> bool:
    """Whether MultiLine appears anywhere in a type (`Text | None`, `list[Text]`)."""
    return any(isinstance(a, MultiLine) or _marked(a) for a in get_args(annotation))


class StrictChecked(Checked):
    model_config = ConfigDict(extra="forbid")
