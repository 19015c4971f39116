#!/usr/bin/env bash
# Make the real services the integration tests use available: Docker Engine, docker-registry,
# htpasswd, a static busybox for test images, nginx, Chromium and chromedriver.
# Reuses whatever is installed or running. As root it installs what is missing (one apt-get
# call) and starts dockerd; otherwise it says what is missing and carries on, so the tests that
# need it fail with their own clear message.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
DOCKERD_WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

log() { printf 'provision: %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

static_busybox_installed() {
  # Debian's plain "busybox" is dynamically linked and cannot run alone in a scratch image.
  if [[ -n ${DW_TEST_BUSYBOX:-} ]]; then
    [[ -x $DW_TEST_BUSYBOX ]]
  elif have dpkg-query; then
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'
  else
    [[ -x /bin/busybox ]]
  fi
}

missing_packages() {
  { have docker && have dockerd; } || echo docker.io
  have docker-registry || echo docker-registry
  have htpasswd || echo apache2-utils
  static_busybox_installed || echo busybox-static
  have nginx || echo nginx-light
  have chromium || echo chromium
  have chromedriver || echo chromium-driver
}

install_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0
  if ! is_root; then
    log "MISSING Debian packages: ${missing[*]}"
    log "  install them with: sudo apt-get install -y ${missing[*]}  (or run scripts/test.sh as root)"
    return 0
  fi
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  # Every package in one call: apt resolves them together and downloads in one go.
  apt-get install -y -qq docker.io docker-registry apache2-utils busybox-static nginx-light \
    chromium chromium-driver >/dev/null
}

engine_answers() {
  have docker && timeout 10 docker info >/dev/null 2>&1
}

local_engine() {
  # Starting a local dockerd only helps when the client talks to the local socket.
  [[ -z ${DOCKER_HOST:-} || ${DOCKER_HOST} == unix:///var/run/docker.sock ]]
}

wait_for_engine() {
  local pid=$1 deadline=$((SECONDS + DOCKERD_WAIT_SECONDS))
  until engine_answers; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "dockerd did not come up; last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      return 0
    fi
    sleep 0.5
  done
  log "Docker Engine is ready (log: $DOCKERD_LOG)"
}

start_engine() {
  engine_answers && return 0
  if ! is_root || ! local_engine || ! have dockerd; then
    log "Docker Engine is NOT reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
    log "  start it as root with: nohup dockerd >$DOCKERD_LOG 2>&1 &  (or run scripts/test.sh as root)"
    return 0
  fi
  log "starting dockerd in the background (log: $DOCKERD_LOG)"
  # setsid: dockerd outlives this script and is not hit by signals sent to the test run.
  nohup setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  wait_for_engine $!
}

install_packages
start_engine
