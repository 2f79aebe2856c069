#!/usr/bin/env bash
# Prepares this host for the sandbox: Docker engine (Debian's docker.io), debootstrap and
# bubblewrap installed, dockerd answering, and the sandbox image built once (cached).
# Without root it only reports what is missing; the Docker tests then skip and say why.
set -uo pipefail
cd "$(dirname "$0")/.."
log() { echo "[sandbox-host] $*"; }

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
      || log "apt-get install failed; Docker/bwrap tests will skip"
  else
    log "missing ${missing[*]} and not root: Docker/bwrap tests will skip"
  fi
fi

if command -v docker >/dev/null 2>&1 && ! timeout 10 docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
    log "starting dockerd"
    (setsid dockerd >/tmp/rlsys-dockerd.log 2>&1 &)
    for _ in $(seq 1 30); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
fi
if timeout 10 docker info >/dev/null 2>&1; then
  log "docker engine answers"
  if [ -x .venv/bin/rlsys ] && .venv/bin/rlsys sandbox --help >/dev/null 2>&1; then
    .venv/bin/rlsys sandbox build-image --if-missing || log "sandbox image build failed; Docker tests will report it"
  fi
else
  log "no docker engine answers (see /tmp/rlsys-dockerd.log); Docker tests will skip"
fi
exit 0
