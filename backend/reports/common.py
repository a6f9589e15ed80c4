"""Helpers the reports share: villages, masking, the year's date bounds, village scope."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from backend import idnumber
from backend.crypto import Keyring
from backend.errors import Forbidden, NotFound

LEVEL_ZH = {"central": "中央", "provincial": "省级", "prefecture": "市级", "county": "县级"}


def villages(s: Session, only: list[str] | None = None) -> dict[str, str]:
    """code -> name, in code order; `only` restricts (a field worker's villages)."""
    rows = s.execute(sa.text("SELECT code, name FROM village ORDER BY code")).all()
    out = {code: name for code, name in rows}
    if only is not None:
        out = {c: n for c, n in out.items() if c in only}
    return out


def scoped_villages(
    s: Session, village: str | None, allowed: tuple[str, ...] | None
) -> dict[str, str]:
    """The villages a report covers: one asked for, else all the caller may see."""
    every = villages(s, list(allowed) if allowed is not None else None)
    if village is None:
        return every
    if village not in villages(s):
        raise NotFound(f"no village {village}")
    if village not in every:
        raise Forbidden("this village is not one of yours")
    return {village: every[village]}


def year_bounds(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year, 12, 31)


def masked_id(keyring: Keyring, person_id: str, enc: bytes) -> str:
    return idnumber.mask(keyring.decrypt_text(enc, person_id))


def in_clause(name: str, values: list[str]) -> tuple[str, dict[str, str]]:
    """`:name0, :name1, ...` and its parameters (portable across SQLite and PostgreSQL)."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params) or "NULL", params
