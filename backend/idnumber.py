"""Resident ID numbers (GB 11643-1999), old 15-digit numbers (GB 11643-1989), and masking."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from backend.errors import InvalidInput
from client import masking  # the one masking the apps show too (client is a leaf package)

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
# ASCII only: `\d` would also match Arabic-Indic, Devanagari, ... digits
_RE18 = re.compile(r"^[0-9]{17}[0-9X]$", re.ASCII)
_RE15 = re.compile(r"^[0-9]{15}$", re.ASCII)
_ALLOWED = frozenset("0123456789X")


@dataclass(frozen=True)
class IdNumber:
    number: str  # always the 18-character form
    birth_date: date
    gender: str  # "male" | "female"
    old_number: str | None = None  # the 15-digit form it was converted from


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def canonical(raw: str) -> str:
    """The one form of an ID number: NFKC (full-width `１` becomes `1`, `ｘ` becomes `x`), outer
    spaces trimmed, upper case; then only ASCII digits and `X` are allowed. Any other digit
    (Arabic-Indic `١`, Devanagari `१`, ...) is refused rather than translated: such a number did
    not come from a card reader or a Chinese form, and translating it would hide a bad source.
    Every enrolment, lookup, certification and import goes through here (via parse), so the hash
    and the duplicate check see one form only."""
    text = unicodedata.normalize("NFKC", raw or "").strip().upper()
    bad = sorted({ch for ch in text if ch not in _ALLOWED})
    if bad:
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:3])
        raise _error(
            f"an ID number has only the digits 0-9 and X; it contains {shown}",
            code="id_number_not_ascii",
        )
    return text


def parse(raw: str) -> IdNumber:
    """Validate and normalise an ID number; raise InvalidInput saying what is wrong."""
    text = canonical(raw)
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
    """110105********002X: region visible, birth date hidden, last four visible (the one
    masking every app shows too: client/masking.py)."""
    return masking.mask_id(number)


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***: the family name only, as on village publicity lists."""
    return masking.mask_name(name)


def mask_account(account: str) -> str:
    """6217 0000 1234 → ****1234: a bank account as staff see it outside the bank file."""
    digits = account.replace(" ", "").replace("-", "")
    return f"****{digits[-4:]}" if digits else ""


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def same_name(a: str | None, b: str | None) -> bool:
    """Names compared as people read them: NFKC (full-width letters, compatibility forms) and
    trimmed, inner runs of spaces as one. Variant characters stay different: NFKC does not map
    traditional to simplified (`王秀蘭` is not `王秀兰`), so such a pair goes to a person to decide."""
    return comparable_name(a) == comparable_name(b)


def comparable_name(name: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", name or "").split())


def _error(message: str, code: str = "invalid_id_number") -> InvalidInput:
    return InvalidInput(
        message,
        errors=[{"field": "id_number", "message": message, "code": code}],
        code=code,
    )
