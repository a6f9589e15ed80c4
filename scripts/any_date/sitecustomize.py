"""Loaded by every Python process of `make test-any-date` (scripts/test-any-date.sh puts this
folder on PYTHONPATH), never by the product.

libfaketime 0.9.10 cannot fake both kinds of waiting at once. With the monotonic clock faked,
a thread's timed wait (threading.Event.wait, Lock.acquire(timeout=...): sem_clockwait, which
it does not intercept) gets a deadline 400 days ahead of the kernel's and never wakes: a
camera grabber or a worker pool hangs. With the monotonic clock left real, Python's
time.sleep (clock_nanosleep on an absolute CLOCK_MONOTONIC deadline, which it does intercept)
fails with EINVAL. So the script leaves the monotonic clock real, and here time.sleep waits
with select(), whose timeout is relative: the same duration, through a call the tool passes on.
"""

from __future__ import annotations

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep  # type: ignore[assignment]  # the same contract for float seconds
