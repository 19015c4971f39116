#!/usr/bin/env bash
# The one run command: set up .venv (first time only) and start Docker Watcher on its defaults:
# SQLite under ./data, the local Docker socket, http://127.0.0.1:8080.
#   bash scripts/run.sh            (extra arguments go to `python -m app`, e.g. keygen)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m app "$@"
