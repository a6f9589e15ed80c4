#!/usr/bin/env bash
# The whole test suite: starts what the tests need, finds PostgreSQL, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: the machine's server if one answers (CI has one on 127.0.0.1:5432, trust auth).
if [ -z "${NONGBAO_TEST_DATABASE_URL:-}" ]; then
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    # a machine whose server is installed but stopped: start it (no systemd here)
    command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    export NONGBAO_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
  fi
fi
echo "test: PostgreSQL at ${NONGBAO_TEST_DATABASE_URL:-(none: PostgreSQL tests will fail)}"

mkdir -p artifacts
# Coverage (pytest-cov, branches on; configured in pyproject.toml): on unless NONGBAO_COVERAGE=0.
# The whole suite (no arguments, as `make test` runs it) must cover 95% of each money module's
# branches; a run of a few files prints its figures only. Details afterwards:
# `.venv/bin/coverage report -m --data-file=artifacts/.coverage`.
cov=()
if [ "${NONGBAO_COVERAGE:-1}" != 0 ]; then
  rm -f artifacts/.coverage artifacts/.coverage.* artifacts/coverage.json
  cov=(--cov --cov-report= --cov-report=json:artifacts/coverage.json)
  # Issue 12: each money module must cover 95% of its branches in the whole run.
  [ $# -eq 0 ] && : "${NONGBAO_COVERAGE_MONEY_MIN:=95}"
fi
# two workers on this 2-core machine; each test builds its own database, so order does not matter
rc=0
.venv/bin/python -m pytest -n 2 --dist loadfile -p no:cacheprovider "${cov[@]}" "$@" || rc=$?
if [ ${#cov[@]} -gt 0 ]; then
  .venv/bin/python scripts/coverage_summary.py artifacts/coverage.json \
    ${NONGBAO_COVERAGE_MONEY_MIN:+--money-fail-under "$NONGBAO_COVERAGE_MONEY_MIN"} || [ $rc -ne 0 ] || rc=1
fi
exit $rc
