#!/usr/bin/env bash
# The checks CI runs before the tests: ruff's lint and format rules, and mypy (configured in
# pyproject.toml: which packages, how strict). Every check runs; the exit status is non-zero
# if any of them failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
# the checked tree is this checkout's code, not an installed copy
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

status=0
run() {
  echo "lint: $*"
  "$@" || status=1
}
run "$VENV/bin/ruff" check .
run "$VENV/bin/ruff" format --check .
run "$VENV/bin/mypy"
if [ "$status" -ne 0 ]; then
  echo "lint: FAILED" >&2
fi
exit "$status"
