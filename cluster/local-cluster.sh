#!/usr/bin/env bash
# A real multi-node Ray cluster on one machine: a head and three worker nodes, each started by
# `ray start` with its own role resources, temp dir and ports (CI's cluster-mode tests use it).
#
#   cluster/local-cluster.sh up       # prints the GCS address and the job-submit (dashboard) URL
#   cluster/local-cluster.sh status   # the nodes and their resources
#   cluster/local-cluster.sh down     # stops this cluster's processes only
#   cluster/local-cluster.sh stop-node sandbox    # kill one worker node (fault tests); start-node brings it back
#
# Nodes (logical CPUs are scheduling tokens; actors ask for fractions, see configs/tiny-cluster.yaml):
#   head      0 CPU   runs the GCS, the dashboard (job submit) and the job's driver (controller)
#   sandbox   1 CPU   {"sandbox": 8}
#   rollout   1 CPU   {"rollout": 8, "judge": 8}
#   learner   1 CPU   {"learner": 8, "corpus": 8}
#   rollout2  1 CPU   {"rollout": 8}   only with RLSYS_CLUSTER_EXTRA=rollout2: a second rollout node, so
#                                      that one rollout replica's node can be stopped (fault tests)
#
# Environment: RLSYS_CLUSTER_PORT (GCS port, default 26379; the other ports are derived from it,
# see `ports` below), RLSYS_CLUSTER_ROOT (default /tmp/rlsys-cluster-$RLSYS_CLUSTER_PORT: every
# node's --temp-dir, logs, pids), PYTHON (default: the repo's .venv python). Worker processes get
# PYTHONPATH=<repo>, OMP_NUM_THREADS=1 and the python's directory first on PATH (a job's `python`).
#
# `down` never runs `ray stop` (which stops every Ray process of the machine, other users'
# included): it terminates the processes whose command line names this cluster's root directory
# (every raylet, GCS, dashboard, agent and worker of the cluster carries its --temp-dir/session
# dir) and the head's Ray client server (it names only the GCS address), SIGTERM first, SIGKILL
# after a grace period.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${RLSYS_CLUSTER_PORT:-26379}"
ROOT="${RLSYS_CLUSTER_ROOT:-/tmp/rlsys-cluster-$PORT}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
RAY="$(dirname "$PYTHON")/ray"
NODES=(head sandbox rollout learner ${RLSYS_CLUSTER_EXTRA:-})
declare -A CPUS=([head]=0 [sandbox]=1 [rollout]=1 [learner]=1 [rollout2]=1)
declare -A RESOURCES=(
  [head]='{}'
  [sandbox]='{"sandbox": 8}'
  [rollout]='{"rollout": 8, "judge": 8}'
  [learner]='{"learner": 8, "corpus": 8}'
  [rollout2]='{"rollout": 8}'
)
for node in "${NODES[@]}"; do
  [ -n "${CPUS[$node]:-}" ] || { echo "unknown node '$node' in RLSYS_CLUSTER_EXTRA (known: rollout2)" >&2; exit 2; }
done

dashboard_port() { echo $((PORT + 1)); }
address() { echo "127.0.0.1:$PORT"; }

# ports of node number $1 (0 = head): node manager, object manager, agent listen/grpc, runtime-env agent,
# metrics export, and an 80-port worker range; all derived from RLSYS_CLUSTER_PORT (5 nodes: +0 .. +499)
ports() {
  local i=$1 base=$((PORT + 10 + 10 * $1)) workers=$((PORT + 100 + 80 * $1))
  echo "--node-manager-port=$base --object-manager-port=$((base + 1))" \
       "--dashboard-agent-listen-port=$((base + 2)) --dashboard-agent-grpc-port=$((base + 3))" \
       "--runtime-env-agent-port=$((base + 4)) --metrics-export-port=$((base + 5))" \
       "--min-worker-port=$workers --max-worker-port=$((workers + 79))"
}

node_env() {
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
  export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 RAY_AUTH_MODE=disabled
  export PATH="$(dirname "$PYTHON"):$PATH"
  # DeepSpeed's CPU extension is compiled once per machine, not once per job working dir
  export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$REPO/artifacts/torch_extensions}"
  export RAY_USAGE_STATS_ENABLED=0
}

ancestors() {  # this script's process and its ancestors (a driver that runs us holds files of the head's session)
  local pid=$$
  while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
    echo "$pid"
    pid="$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || true)"
  done
}

pids_under() {  # processes that name $1 in their command line or hold a file under it
  # Ray renames its agents and workers (setproctitle: `ray::DashboardAgent`, `ray::CorpusActor`), which
  # drops the --temp-dir from their command line; their open log files still lie under the node's dir.
  # Missing them left a stopped node's agents listening on the node's ports for minutes.
  # the patterns go through a file so that grep's own command line does not match them
  { grep -laF -f <(printf '%s\n' "$1") /proc/[0-9]*/cmdline 2>/dev/null || true; } | cut -d/ -f3
  { find /proc/[0-9]*/fd -lname "$1*" 2>/dev/null || true; } | cut -d/ -f3
}

our_pids() {  # processes of this cluster (never anyone else's, never the caller's)
  local pid
  {
    pids_under "$ROOT/"
    for pid in $({ grep -laF "ray.util.client.server" /proc/[0-9]*/cmdline 2>/dev/null || true; } | cut -d/ -f3); do
      # the head's client server names no dir, only the GCS address
      if { tr "\0" " " < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qE -f <(printf '%s\n' "--address=[^ ]+:$PORT "); then
        echo "$pid"
      fi
    done
  } | sort -un | grep -vxF -f <(ancestors) || true
}

start_node() {  # start_node NAME INDEX
  local node=$1 i=$2
  mkdir -p "$ROOT/$node"
  local args=(--node-ip-address=127.0.0.1 --num-cpus="${CPUS[$node]}" --resources="${RESOURCES[$node]}"
              --temp-dir="$ROOT/$node" --disable-usage-stats $(ports "$i"))
  if [ "$node" = head ]; then
    args+=(--head --port="$PORT" --include-dashboard=true --dashboard-host=127.0.0.1
           --dashboard-port="$(dashboard_port)" --ray-client-server-port=$((PORT + 2)))
  else
    args+=(--address="$(address)")
  fi
  if ! timeout 300 "$RAY" start "${args[@]}" >"$ROOT/$node.start.log" 2>&1; then
    echo "ray start of node '$node' failed; its output ($ROOT/$node.start.log):" >&2
    tail -n 30 "$ROOT/$node.start.log" >&2
    return 1
  fi
}

up() {
  if [ -n "$(our_pids)" ]; then
    echo "a cluster already runs under $ROOT (run: $0 down)" >&2
    exit 1
  fi
  rm -rf "$ROOT"
  mkdir -p "$ROOT"
  node_env
  local i=0 node
  for node in "${NODES[@]}"; do
    if ! start_node "$node" "$i"; then
      down
      exit 1
    fi
    i=$((i + 1))
  done
  wait_for_nodes "${#NODES[@]}"
  echo "address=$(address)"
  echo "dashboard=http://127.0.0.1:$(dashboard_port)"
  echo "root=$ROOT"
}

node_index() {
  local i=0 node
  for node in "${NODES[@]}"; do
    [ "$node" = "$1" ] && { echo "$i"; return 0; }
    i=$((i + 1))
  done
  echo "unknown node '$1' (one of: ${NODES[*]:1})" >&2
  exit 2
}

stop_node() {  # a whole worker node goes away (its raylet, workers and agents): a node-level fault
  local name=$1 pids
  [ "$name" = head ] && { echo "stop-node stops worker nodes; use down for the head" >&2; exit 2; }
  node_index "$name" >/dev/null
  pids="$(pids_under "$ROOT/$name/" | sort -un | grep -vxF -f <(ancestors) | tr '\n' ' ' || true)"
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  echo "stopped node $name"
}

restart_node() {
  node_env
  start_node "$1" "$(node_index "$1")"
  echo "started node $1"
}

wait_for_nodes() {  # the GCS lists every node alive (a worker registers shortly after `ray start` returns)
  RAY_ADDRESS="$(address)" timeout 120 "$PYTHON" - "$1" <<'EOF'
import sys, time
import ray
want = int(sys.argv[1])
ray.init(address="auto", log_to_driver=False)
deadline = time.monotonic() + 100
while True:
    alive = [n for n in ray.nodes() if n["Alive"]]
    if len(alive) >= want:
        break
    if time.monotonic() > deadline:
        sys.exit(f"only {len(alive)} of {want} nodes registered with the GCS")
    time.sleep(1)
EOF
}

status() {
  node_env
  RAY_ADDRESS="$(address)" timeout 120 "$PYTHON" - <<'EOF'
import ray
ray.init(address="auto", log_to_driver=False)
for n in ray.nodes():
    res = {k: v for k, v in n["Resources"].items() if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
    print(n["NodeID"][:12], "alive" if n["Alive"] else "dead", n["NodeManagerAddress"], n["NodeManagerPort"], res)
EOF
}

down() {
  local pids
  pids="$(our_pids)"
  if [ -z "$pids" ]; then
    echo "no process of the cluster under $ROOT"
    return 0
  fi
  kill -TERM $pids 2>/dev/null || true
  local t
  for t in $(seq 1 30); do
    pids="$(our_pids)"
    [ -z "$pids" ] && break
    sleep 1
  done
  if [ -n "$pids" ]; then
    kill -KILL $pids 2>/dev/null || true
    for t in $(seq 1 10); do
      [ -z "$(our_pids)" ] && break
      sleep 1
    done
  fi
  echo "stopped the cluster under $ROOT"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  stop-node) stop_node "${2:?node name}" ;;
  start-node) restart_node "${2:?node name}" ;;
  status) status ;;
  address) address ;;
  dashboard) echo "http://127.0.0.1:$(dashboard_port)" ;;
  *) echo "usage: $0 up|down|status|address|dashboard|stop-node NAME|start-node NAME" >&2; exit 2 ;;
esac
