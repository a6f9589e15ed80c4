"""The product's one clock: every business "today" and every "now" of the backend and the CLI.

Why one module: a certification's validity, an award's first month, a payroll's run date and
a death's plausibility all hang on "today". When each place asks the operating system on its
own, a test can only pin the day by freezing the whole process, and a test that forgets is
right on the day it was written and wrong a month later. Here the date is asked in one place,
and that place can be set:

* in a process, by `set_to(instant)` / `travel(instant)` (tests), and `reset()`;
* for a whole process from outside, by `NONGBAO_CLOCK=2026-11-27T10:00:00+08:00` (a training
  county): the clock starts at that instant and then runs with the real one, so durations
  (token lifetimes, challenge expiry) stay true. `NONGBAO_CLOCK=2026-11-27T10:00:00+08:00@E`
  pins that instant to the wall-clock moment E (POSIX seconds) instead of to the process's
  start, so that every process given the same value (a test run, its live servers, its apps)
  reads the same time: a challenge issued by the server and a frame stamped by a device agree.

The county's date is China Standard Time (UTC+8, no daylight saving): a kiosk that opens at
07:00 in Beijing is on that day, not on the previous day of UTC.

Only this module reads the wall clock (`tests/test_clock_discipline.py` enforces that);
durations of work use `time.monotonic()` and are not business time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone

COUNTY_TZ = timezone(timedelta(hours=8), "CST")
ENV = "NONGBAO_CLOCK"

_offset = timedelta(0)  # product time minus wall time
_frozen: datetime | None = None  # a stopped clock (tests), else None


def _wall() -> datetime:
    return datetime.fromtimestamp(time.time(), UTC)


def parse_instant(text: str) -> datetime:
    """An ISO date or instant; a bare date is that day at 10:00 county time (office hours),
    and an instant without an offset is county time."""
    value = datetime.fromisoformat(text.strip())
    if len(text.strip()) == 10:
        value = value.replace(hour=10)
    if value.tzinfo is None:
        value = value.replace(tzinfo=COUNTY_TZ)
    return value.astimezone(UTC)


def set_to(
    instant: datetime | date | str, *, tick: bool = True, since: float | None = None
) -> None:
    """Set the clock: running on from `instant` (tick) or stopped at it. With `since` (a
    wall-clock POSIX time), `instant` is what the clock read at that moment."""
    global _offset, _frozen
    if isinstance(instant, str):
        at = parse_instant(instant)
    elif isinstance(instant, datetime):
        at = instant if instant.tzinfo else instant.replace(tzinfo=COUNTY_TZ)
    else:
        at = datetime(instant.year, instant.month, instant.day, 10, tzinfo=COUNTY_TZ)
    at = at.astimezone(UTC)
    if tick:
        wall = _wall() if since is None else datetime.fromtimestamp(since, UTC)
        _offset, _frozen = at - wall, None
    else:
        _offset, _frozen = timedelta(0), at


def reset() -> None:
    """Back to the wall clock (or to NONGBAO_CLOCK where the process was started with it)."""
    global _offset, _frozen
    _offset, _frozen = timedelta(0), None
    setting = os.environ.get(ENV, "").strip()
    if setting:
        instant, _, since = setting.partition("@")
        set_to(instant, since=float(since) if since else None)


@contextmanager
def travel(instant: datetime | date | str, *, tick: bool = True) -> Iterator[None]:
    global _offset, _frozen
    saved = (_offset, _frozen)
    set_to(instant, tick=tick)
    try:
        yield
    finally:
        _offset, _frozen = saved


def now() -> datetime:
    """The product's current instant, timezone-aware, in UTC."""
    return _frozen if _frozen is not None else _wall() + _offset


def timestamp() -> float:
    """`now()` as POSIX seconds (token expiry, challenge windows)."""
    return now().timestamp()


def today() -> date:
    """The county's calendar date now."""
    return now().astimezone(COUNTY_TZ).date()


def local_now() -> datetime:
    """`now()` in county time, for what a person reads (a receipt's printed time)."""
    return now().astimezone(COUNTY_TZ)


def offset_seconds() -> float:
    """How far this clock stands from the wall clock: the apps convert the camera's wall-clock
    frame stamps with it, so frames and challenges are on one time line."""
    return (now() - _wall()).total_seconds()


reset()
