#!/usr/bin/env bash
# Prepares this host for the sandbox: the Docker ENGINE (dockerd, Debian's docker.io), debootstrap
# and bubblewrap installed, dockerd started and answering, and the sandbox image built once.
# A Docker client alone (`docker` on PATH) is not an engine: the check is `dockerd` + `docker info`.
# Without RLSYS_REQUIRE_SANDBOX it never fails the build: whatever cannot be set up is reported
# and the tests of that backend skip and say why. With RLSYS_REQUIRE_SANDBOX=docker (what
# .ci/run sets) a missing engine or image is an error (exit 1). Without root it only reports.
# Env: RLSYS_SANDBOX_IMAGE overrides the image tag (default: the config's sandbox.image);
#      RLSYS_DOCKERD_LOG where a dockerd started here logs (default /var/log/rlsys-dockerd.log).
set -uo pipefail
cd "$(dirname "$0")/.."
log() { echo "[sandbox-host] $*"; }
DOCKERD_LOG=${RLSYS_DOCKERD_LOG:-/var/log/rlsys-dockerd.log}
REQUIRE=${RLSYS_REQUIRE_SANDBOX:-}
is_root=0; [ "$(id -u)" = 0 ] && is_root=1
fail_or_warn() {  # $1: backend, $2: message
  if [[ ",$REQUIRE," == *",$1,"* ]]; then log "ERROR (RLSYS_REQUIRE_SANDBOX=$REQUIRE): $2"; exit 1; fi
  log "$2"
}

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$is_root" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! { timeout 300 apt-get update -qq >/dev/null && timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
      log "apt-get install ${missing[*]} failed"
    fi
  else
    log "missing ${missing[*]} and not root (or no apt-get)"
  fi
fi

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }
if command -v dockerd >/dev/null 2>&1 && ! engine_answers; then
  if [ "$is_root" = 1 ]; then
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    (setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &)
    for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
  fi
fi

if ! command -v dockerd >/dev/null 2>&1; then
  fail_or_warn docker "no Docker engine (dockerd) installed: apt-get install -y docker.io (as root)"
elif ! engine_answers; then
  fail_or_warn docker "dockerd is installed but no engine answers \`docker info\` (see $DOCKERD_LOG)"
else
  log "docker engine answers: $(docker info --format '{{.ServerVersion}}' 2>/dev/null)"
  if [ -x .venv/bin/python ]; then
    image_args=()
    [ -n "${RLSYS_SANDBOX_IMAGE:-}" ] && image_args=(--set "sandbox.image=$RLSYS_SANDBOX_IMAGE")
    # Pulls via deploy/sandbox/Dockerfile when a registry answers, else the offline debootstrap build.
    PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} timeout 1800 .venv/bin/python -m rlsys.cli sandbox build-image \
      --if-missing "${image_args[@]}" || fail_or_warn docker "sandbox image build failed (see above)"
  else
    fail_or_warn docker ".venv is not installed yet (run scripts/install.sh); image not built"
  fi
fi
if command -v bwrap >/dev/null 2>&1; then
  log "bubblewrap: $(bwrap --version)"
else
  fail_or_warn bwrap "bubblewrap missing: apt-get install -y bubblewrap"
fi
exit 0
