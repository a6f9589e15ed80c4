#!/usr/bin/env bash
# The suite on other days: the whole machine's clock (this process and every one it starts,
# but not the PostgreSQL server, which keeps the real clock) moved ahead with Debian's
# libfaketime, by 400 days and by 1,100 days. Arguments go to pytest (default: everything).
#
# Waiting: libfaketime 0.9.10 cannot fake both kinds. With the monotonic clock faked, a
# thread's timed wait (threading.Event.wait, sem_clockwait, not intercepted) never wakes; left
# real, Python's time.sleep (clock_nanosleep on an absolute CLOCK_MONOTONIC deadline) fails
# with EINVAL. So monotonic time stays real (it is no business date), and
# scripts/any_date/sitecustomize.py, on PYTHONPATH for these runs only, makes time.sleep wait
# with select(), whose timeout is relative.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(dpkg -L libfaketime 2>/dev/null | grep 'faketime.so.1$' | head -1)
[ -n "$lib" ] || { echo "test-any-date: libfaketime is not installed (make setup installs it)" >&2; exit 1; }
for offset in ${NONGBAO_FAKETIME_OFFSETS:-+400d +1100d}; do
  echo "test-any-date: the machine's clock moved by $offset: $(LD_PRELOAD=$lib FAKETIME=$offset date -u +%F)"
  # coverage is `make test`'s business: measured once, not on every day
  NONGBAO_COVERAGE=${NONGBAO_COVERAGE:-0} PYTHONPATH="$PWD/scripts/any_date${PYTHONPATH:+:$PYTHONPATH}" \
    FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$lib FAKETIME=$offset bash scripts/test.sh "$@"
done
