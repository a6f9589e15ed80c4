#!/usr/bin/env bash
# The suite on other days: the whole machine's clock (this process and every one it starts,
# but not the PostgreSQL server, which keeps the real clock) moved ahead with Debian's
# libfaketime, by 400 days and by 1,100 days. Arguments go to pytest (default: everything).
#
# Why monotonic time is faked too: libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1
# answers EINVAL to clock_nanosleep on an absolute CLOCK_MONOTONIC deadline, which is how
# Python's time.sleep() waits, so every sleeping test would fail for a reason of the tool's
# own. Faking it moves it by the same offset, which changes no duration.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(dpkg -L libfaketime 2>/dev/null | grep 'faketime.so.1$' | head -1)
[ -n "$lib" ] || { echo "test-any-date: libfaketime is not installed (make setup installs it)" >&2; exit 1; }
for offset in ${NONGBAO_FAKETIME_OFFSETS:-+400d +1100d}; do
  echo "test-any-date: the machine's clock moved by $offset: $(LD_PRELOAD=$lib FAKETIME=$offset date -u +%F)"
  # coverage is `make test`'s business: measured once, not on every day
  NONGBAO_COVERAGE=${NONGBAO_COVERAGE:-0} LD_PRELOAD=$lib FAKETIME=$offset bash scripts/test.sh "$@"
done
