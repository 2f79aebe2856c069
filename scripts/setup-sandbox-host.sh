#!/usr/bin/env bash
# Prepares this host for the sandbox: Docker engine (Debian's docker.io), debootstrap and
# bubblewrap installed, dockerd answering, and the sandbox image built once (cached).
# Never fails the build: whatever cannot be set up is reported, and the Docker (or bwrap)
# tests then skip and print why. Without root it only reports what is missing.
# Env: RLSYS_SANDBOX_IMAGE overrides the image tag (default: the config's sandbox.image).
set -uo pipefail
cd "$(dirname "$0")/.."
log() { echo "[sandbox-host] $*"; }
DOCKERD_LOG=${RLSYS_DOCKERD_LOG:-/var/log/rlsys-dockerd.log}
is_root=0; [ "$(id -u)" = 0 ] && is_root=1

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$is_root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { timeout 300 apt-get update -qq >/dev/null && timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
      log "apt-get install ${missing[*]} failed; the tests that need them will skip"
    fi
  else
    log "missing ${missing[*]} and not root (or no apt-get): the tests that need them will skip"
  fi
fi

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
if command -v docker >/dev/null 2>&1 && ! engine_answers; then
  if [ "$is_root" = 1 ] && command -v dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    (setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &)
    for _ in $(seq 1 40); do engine_answers && break; sleep 1; done
  fi
fi

if command -v docker >/dev/null 2>&1 && engine_answers; then
  log "docker engine answers"
  if [ -x .venv/bin/rlsys ] && .venv/bin/rlsys sandbox --help >/dev/null 2>&1; then
    image_args=()
    [ -n "${RLSYS_SANDBOX_IMAGE:-}" ] && image_args=(--set "sandbox.image=$RLSYS_SANDBOX_IMAGE")
    # Pulls via deploy/sandbox/Dockerfile when a registry answers, else the offline debootstrap build.
    timeout 1800 .venv/bin/rlsys sandbox build-image --if-missing "${image_args[@]}" \
      || log "sandbox image build failed (see above); the Docker tests will skip and say why"
  else
    log ".venv/bin/rlsys is not installed yet (run scripts/install.sh); image not built"
  fi
else
  log "no docker engine answers (see $DOCKERD_LOG); the Docker tests will skip and say why"
fi
command -v bwrap >/dev/null 2>&1 && log "bubblewrap: $(bwrap --version)" || log "bubblewrap missing: bwrap tests will skip"
exit 0
