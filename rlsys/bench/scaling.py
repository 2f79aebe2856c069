"""`rlsys bench scaling`: each role scales on its own, on the local multi-node cluster.

- sandbox: cells/s of a cell-bound load (CPU-bound cells, no tool calls) with 1, 2, 4
  `SandboxWorker`s placed on the `sandbox` node, each against the 1-worker baseline;
- rollout: episodes/s of the same rollout groups with 1 and 2 `RolloutWorker`s on the
  `rollout` node (tiny model, corpus and sandbox on their own nodes), against 1 replica.

Medians over `--repeats` rounds. Also reported: the CPU seconds the role's actor processes used
and the machine's busy CPU seconds in each configuration (on 2 cores the absolute gain is
bounded by the cores; the ratios show that adding replicas of one role is all it takes). Starts
`cluster/local-cluster.sh` on a free port and stops it after, or joins `--address`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

HELP = "role scaling on a local multi-node Ray cluster: sandbox cells/s (1, 2, 4 workers), rollout episodes/s (1, 2)"
REPO_ROOT = Path(__file__).resolve().parents[2]
CELL = "t = 0\nfor i in range({n}):\n    t += i * i\nprint(t % 7)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None, help="GCS address of a running cluster with role resources "
                        "(default: start cluster/local-cluster.sh on a free port and stop it after)")
    parser.add_argument("--sandbox-workers", default="1,2,4", help="sandbox worker counts (comma-separated)")
    parser.add_argument("--cells", type=int, default=48, help="cells per sandbox round")
    parser.add_argument("--cell-loop", type=int, default=300000, help="loop length of the CPU-bound cell")
    parser.add_argument("--rollout-replicas", default="1,2", help="rollout replica counts (comma-separated)")
    parser.add_argument("--groups", type=int, default=4, help="rollout groups per round")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per group")
    parser.add_argument("--model", default=None, help="policy model dir (default: build the nano model in artifacts/)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per configuration (the median is reported)")
    parser.add_argument("--skip-rollout", action="store_true", help="only the sandbox figures")


def no_tools(name: str, kwargs: dict[str, Any]) -> str:
    return "Error: this benchmark has no corpus"


def _busy_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _actor_cpu_s(handles: list[Any]) -> float:
    """CPU seconds (user + system, with reaped children) of these actors' processes (all on this machine)."""
    import psutil
    from ray.util.state import list_actors

    ids = {h._actor_id.hex() for h in handles}
    total = 0.0
    for actor in list_actors(limit=10000, detail=True):
        if actor.actor_id in ids and actor.pid:
            try:
                t = psutil.Process(actor.pid).cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    return total


def _measure(handles: list[Any], round_fn, repeats: int, units: int) -> dict[str, Any]:
    rates, cpu, busy = [], [], []
    for _ in range(repeats):
        c0, b0, t0 = _actor_cpu_s(handles), _busy_cpu_s(), time.perf_counter()
        round_fn()
        elapsed = time.perf_counter() - t0
        rates.append(units / elapsed)
        cpu.append(_actor_cpu_s(handles) - c0)
        busy.append(_busy_cpu_s() - b0)
    return {"per_s": statistics.median(rates), "per_s_all": rates, "role_cpu_s": statistics.median(cpu),
            "machine_busy_cpu_s": statistics.median(busy)}


def _with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = rows[0]["per_s"]
    for row in rows:
        row["vs_1"] = row["per_s"] / base if base else float("nan")
    return rows


def bench_sandbox(cfg, counts: list[int], cells: int, loop: int, repeats: int) -> list[dict[str, Any]]:
    import ray

    from rlsys.actors.sandbox_worker import SandboxWorker

    code = CELL.format(n=loop)
    rows = []
    for n in counts:
        opts = {"num_cpus": min(1.0, 0.9 / n), "resources": {"sandbox": 1}}
        workers = [SandboxWorker.options(**opts).remote(cfg.sandbox.model_dump(), no_tools) for _ in range(n)]
        ray.get([w.start.remote() for w in workers], timeout=600)

        wave = n * cfg.sandbox.containers_per_worker  # every warm container busy, none waiting

        def one_round() -> None:
            results = []
            for start in range(0, cells, wave):
                episodes = [(workers[i % n], f"bench-{uuid.uuid4().hex[:8]}") for i in range(start, min(cells, start + wave))]
                ray.get([w.open.remote(e) for w, e in episodes], timeout=600)
                results += ray.get([w.run.remote(e, code) for w, e in episodes], timeout=600)
                ray.get([w.close.remote(e) for w, e in episodes], timeout=600)
            bad = [r for r in results if r.status.value != "ok"]
            if bad:
                raise RuntimeError(f"{len(bad)} of {cells} cells failed, e.g. {bad[0]}")

        one_round()  # warm-up
        rows.append({"workers": n, **_measure(workers, one_round, repeats, cells)})
        ray.get([w.shutdown.remote() for w in workers], timeout=600)
        for w in workers:
            ray.kill(w)
    return _with_ratios(rows)


def bench_rollout(cfg, counts: list[int], groups: int, k: int, repeats: int) -> list[dict[str, Any]]:
    import ray

    from rlsys.actors.corpus_actor import CorpusActor
    from rlsys.actors.rollout_worker import RolloutWorker
    from rlsys.actors.sandbox_worker import SandboxWorker
    from rlsys.corpus.loaders import load_questions

    data = cfg.model_dump()
    corpus = CorpusActor.options(num_cpus=0.2, resources={"corpus": 1}).remote(data, True)
    ray.get(corpus.ready.remote(), timeout=1800)
    sandbox = [SandboxWorker.options(num_cpus=0.45, resources={"sandbox": 1}).remote(data, [corpus])
               for _ in range(2)]
    ray.get([w.start.remote() for w in sandbox], timeout=600)
    questions = load_questions(cfg.corpus)[:groups]
    rows = []
    for n in counts:
        workers = [RolloutWorker.options(num_cpus=0.9 / n, resources={"rollout": 1}).remote(data, sandbox)
                   for _ in range(n)]
        ray.get([w.ready.remote() for w in workers], timeout=1800)

        def one_round() -> None:
            ray.get([workers[i % n].generate_group.remote(q, k, 7 + i) for i, q in enumerate(questions)], timeout=1800)

        one_round()  # warm-up
        rows.append({"replicas": n, **_measure(workers, one_round, repeats, groups * k)})
        for w in workers:
            ray.kill(w)
    for actor in sandbox + [corpus]:
        ray.kill(actor)
    return _with_ratios(rows)


def free_base_port() -> int:
    """A base port whose derived ports (base .. base+499, see cluster/local-cluster.sh) look free."""
    import random
    import socket

    def free(port: int) -> bool:
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
            return True

    for _ in range(50):
        base = random.randrange(20000, 29000, 500)
        # every derived port: a process left from an earlier cluster on the same base holds some
        if all(free(base + d) for d in range(500)):
            return base
    raise RuntimeError("no free port range for the local cluster")


def _start_cluster() -> tuple[dict[str, str], str]:
    import sys

    port = free_base_port()
    env = {**os.environ, "RLSYS_CLUSTER_PORT": str(port), "PYTHON": sys.executable}
    up = subprocess.run(["bash", str(REPO_ROOT / "cluster" / "local-cluster.sh"), "up"], env=env,
                        capture_output=True, text=True, timeout=600)
    if up.returncode != 0:
        raise RuntimeError(f"local cluster did not start: {up.stderr[-2000:]}")
    return env, f"127.0.0.1:{port}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import ray

    from rlsys.config import load_config

    env = None
    address = args.address
    if address is None:
        env, address = _start_cluster()
    os.environ["RAY_ADDRESS"] = address  # the state API (CPU figures) asks this cluster, not another on the machine
    try:
        ray.init(address=address, log_to_driver=False)
        overrides = ["corpus.index_dir=" + str(REPO_ROOT / "artifacts" / "index" / "bench-scaling-60")]
        if not args.skip_rollout:
            from rlsys.rollout.tiny_model import build_tiny_model, default_texts

            model = Path(args.model) if args.model else REPO_ROOT / "artifacts" / "models" / "bench-scaling-nano"
            if not (model / "config.json").is_file():
                build_tiny_model(model, default_texts(60), size="nano")
            overrides.append(f"model.path={model}")
        cfg = load_config(REPO_ROOT / "configs" / "tiny-cluster.yaml", overrides)
        result: dict[str, Any] = {"cpu_count": os.cpu_count(), "cell_loop": args.cell_loop, "repeats": args.repeats,
                                  "nodes": {n["NodeID"][:8]: {k: v for k, v in n["Resources"].items()
                                                              if k in ("CPU", "sandbox", "rollout", "judge", "learner", "corpus")}
                                            for n in ray.nodes() if n["Alive"]}}
        result["sandbox_cells"] = bench_sandbox(cfg, [int(x) for x in args.sandbox_workers.split(",")], args.cells,
                                                args.cell_loop, args.repeats)
        if not args.skip_rollout:
            result["rollout_episodes"] = bench_rollout(cfg, [int(x) for x in args.rollout_replicas.split(",")],
                                                       args.groups, args.group_size, args.repeats)
        return result
    finally:
        ray.shutdown()
        if env is not None:
            subprocess.run(["bash", str(REPO_ROOT / "cluster" / "local-cluster.sh"), "down"], env=env,
                           capture_output=True, text=True, timeout=300)
