#!/usr/bin/env bash
# The one test command, for CI and people alike:
#   bash scripts/test.sh [pytest args...]      (whole suite when no args)
# Sets up .venv, installs/starts the real test services, then runs pytest, ruff check,
# ruff format --check and mypy. Every check runs even after one fails; the exit status is
# non-zero if any failed, and pytest collecting no tests counts as a failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh || { echo "test.sh: bootstrap failed" >&2; exit 1; }
bash scripts/provision-test-services.sh || { echo "test.sh: provisioning failed" >&2; exit 1; }

PY=.venv/bin/python
declare -a results=()
failed=0

run_check() {
  local name=$1 started=$SECONDS rc
  shift
  printf '\n==> %s\n' "$name"
  "$@"
  rc=$?
  if ((rc == 5)) && [[ $name == pytest ]]; then
    echo "test.sh: pytest collected no tests (exit 5) - treating that as a failure" >&2
  fi
  if ((rc != 0)); then failed=1; fi
  results+=("$(printf '%-22s %s (exit %d, %ds)' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAILED)" "$rc" $((SECONDS - started)))")
}

run_check pytest "$PY" -m pytest "$@"
run_check "ruff check" "$PY" -m ruff check .
run_check "ruff format --check" "$PY" -m ruff format --check .
run_check mypy "$PY" -m mypy

printf '\n==> summary\n'
printf '  %s\n' "${results[@]}"
exit "$failed"
