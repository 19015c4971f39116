#!/usr/bin/env bash
# Create .venv and install the locked dependencies plus the project itself (editable).
# Idempotent: a stamp holding the sha256 of requirements.lock and pyproject.toml makes a rerun
# with nothing changed take well under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.bootstrap-stamp"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

wanted_stamp() {
  # Both files decide what gets installed: the lock (dependencies) and pyproject (the project).
  cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1
}

venv_works() {
  [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null
}

install_venv_support() {
  # Debian ships ensurepip separately (python3-venv); only root can add it.
  if [[ $(id -u) -ne 0 ]]; then
    log "python3 -m venv failed; as root run: apt-get install -y python3-venv"
    exit 1
  fi
  log "installing python3-venv with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv >/dev/null
}

create_venv() {
  log "creating $VENV"
  if ! command -v python3 >/dev/null || ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"  # a failed venv leaves a half-made directory behind
    install_venv_support
    python3 -m venv "$VENV"
  fi
}

install_packages() {
  log "installing requirements.lock and the project"
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
  "${pip[@]}" install -r requirements.lock
  "${pip[@]}" install --no-deps -e .
}

main() {
  local want
  want=$(wanted_stamp)
  if venv_works && [[ -f "$STAMP" && $(cat "$STAMP") == "$want" ]]; then
    exit 0
  fi
  venv_works || { rm -rf "$VENV"; create_venv; }
  install_packages
  printf '%s\n' "$want" >"$STAMP"
  log "ready"
}

main "$@"
