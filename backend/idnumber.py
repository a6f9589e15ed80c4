"""Resident ID numbers (GB 11643-1999), old 15-digit numbers (GB 11643-1989), and masking."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from backend.errors import InvalidInput

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_RE18 = re.compile(r"^\d{17}[\dX]$")
_RE15 = re.compile(r"^\d{15}$")


@dataclass(frozen=True)
class IdNumber:
    number: str  # always the 18-character form
    birth_date: date
    gender: str  # "male" | "female"
    old_number: str | None = None  # the 15-digit form it was converted from


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse(raw: str) -> IdNumber:
    """Validate and normalise an ID number; raise InvalidInput saying what is wrong."""
    text = (raw or "").strip().upper()
    old: str | None = None
    if _RE15.match(text):
        old = text
        first17 = text[:6] + "19" + text[6:]
        text = first17 + check_char(first17)
    elif not _RE18.match(text):
        raise _error(
            f"an ID number has 18 characters (digits, last may be X) or 15 digits; got {len(text)}"
        )
    elif check_char(text[:17]) != text[17]:
        raise _error(
            f"wrong check character: the last character should be {check_char(text[:17])}, "
            f"not {text[17]}; please re-check the number"
        )
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise _error(f"impossible birth date {text[6:14]} in the ID number") from None
    if born.year < 1880:
        raise _error(f"impossible birth date {born.isoformat()} in the ID number")
    gender = "male" if int(text[16]) % 2 == 1 else "female"
    return IdNumber(number=text, birth_date=born, gender=gender, old_number=old)


def mask(number: str) -> str:
    """110105********002X: region visible, birth date hidden, last four visible."""
    if len(number) == 18:
        return number[:6] + "*" * 8 + number[14:]
    return "*" * max(len(number) - 4, 0) + number[-4:]


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the family name only, as on village publicity lists."""
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _error(message: str) -> InvalidInput:
    return InvalidInput(message, errors=[{"field": "id_number", "message": message}])
