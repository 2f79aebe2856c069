"""`rlsys bench sandbox`: per-cell latency and throughput of the warm pool, side by side with
`docker exec` per cell into a running container and a fresh container per cell.

All three use the same image and hardening. The tool cell makes 3 tool calls answered by an
in-memory ToolFn, so the figure is the sandbox's own overhead, not the corpus search.
Every episode gets a fresh sandbox from the pool's pre-started spares: `episode_open_p50_ms`
is the time `open()` takes with spares ready, `episodes_per_s` the sustained rate of
open + one cell + close with `concurrency` episodes in flight (bounded by how fast the backend
starts sandboxes, since every closed episode's sandbox is replaced by a new one).
`warm_cells_per_s` is timed with the spares ready (no sandbox starts meanwhile: the channel's
own rate); `*_spares_starting` opens the episodes inside the timed window, so the spares that
replace them start while the cells run (what a pool in a training run sees).
`*cpu_ms_per_cell` says where a warm cell's CPU goes during the throughput run: CPU time of
this process (the worker), the engine's processes (dockerd, containerd, containerd-shim) and
the sandboxes' interpreters, per cell. `--compare-attach` measures the Docker pool a second time
with the control channel over the engine's attach stream (`attach_*` keys); `--channel-ab N`
measures only that comparison, in N alternating rounds per channel (`channel_ab_*` keys).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

HELP = "sandbox cell latency/throughput: warm pool vs docker exec per cell vs fresh container per cell"
TRIVIAL = "x = 1 + 1"
TOOL_CELL = "h = search_pages('alpha')\ns = view_sections(h[0]['page_id'])\nt = read_section(s[0]['section_id'])"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cells", type=int, default=400, help="sequential warm-pool cells for latency")
    parser.add_argument("--throughput-cells", type=int, default=1000, help="cells for the warm throughput run")
    parser.add_argument("--concurrency", type=int, default=4, help="episodes in flight for throughput (= pool size)")
    parser.add_argument("--exec-cells", type=int, default=20, help="cells for the docker-exec baseline")
    parser.add_argument("--fresh-cells", type=int, default=6, help="cells for the fresh-container baseline")
    parser.add_argument("--episodes", type=int, default=20, help="episodes for the episode-open and turnover figures")
    parser.add_argument("--no-bwrap", action="store_true", help="skip the bubblewrap warm-pool figures")
    parser.add_argument("--compare-attach", action="store_true",
                        help="also measure the Docker pool with its control channel over the attach stream")
    parser.add_argument("--channel-ab", type=int, default=0, metavar="ROUNDS",
                        help="only an A/B of Docker's channels: ROUNDS alternating warm-throughput rounds per channel")


def _tool(name: str, kwargs: dict[str, Any]) -> Any:
    if name == "search_pages":
        return [{"page_id": "alpha", "title": "Alpha", "score": 1.0}]
    if name == "view_sections":
        return [{"section_id": "alpha:intro", "section_name": "Intro", "level": 1}]
    return "Alpha is the first letter. " * 20


CPU_GROUPS = {"dockerd": "dockerd", "containerd": "containerd", "containerd-shim": "containerd-shim",
              "runc": "runc", "python3": "sandbox", "bwrap": "sandbox"}


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (group, CPU ticks so far) of this process and of the processes named in
    CPU_GROUPS ("python3" is the sandbox's interpreter: the host runs `python`)."""
    me, ticks = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        group = "worker" if int(entry) == me else CPU_GROUPS.get(comm)
        if group:
            ticks[int(entry)] = (group, int(fields[11]) + int(fields[12]))
    return ticks


def _cpu_ms_per_cell(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], cells: int) -> dict:
    """CPU milliseconds per cell by group, over the processes that lived through the run."""
    spent: dict[str, int] = {}
    for pid, (group, ticks) in after.items():
        if pid in before and before[pid][0] == group:
            spent[group] = spent.get(group, 0) + ticks - before[pid][1]
    return {g: round(t / os.sysconf("SC_CLK_TCK") * 1000 / cells, 3) for g, t in spent.items() if t > 0}


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


async def _warm(cfg, backend: str, args, progress) -> dict[str, Any]:
    from rlsys.sandbox.pool import SandboxPool
    from rlsys.sandbox.types import ExecStatus

    async with SandboxPool(cfg, _tool, size=args.concurrency, backend=backend) as pool:
        channel = getattr(pool.backend, "channel", None)
        backend = f"{backend} ({channel})" if channel else backend
        task = progress.add_task(f"{backend}: warm pool, sequential", total=2 * args.cells)
        eid = uuid.uuid4().hex
        await pool.open(eid)
        await _spares_ready(pool)  # no sandbox starts in the background while cells are timed
        for _ in range(20):  # warm-up
            await pool.run(eid, TRIVIAL)
        lat, tool_lat = [], []
        for samples, code in ((lat, TRIVIAL), (tool_lat, TOOL_CELL)):
            for _ in range(args.cells):
                started = time.perf_counter()
                result = await pool.run(eid, code)
                samples.append(time.perf_counter() - started)
                if result.status is not ExecStatus.OK:
                    raise RuntimeError(f"benchmark cell failed: {result}")
                progress.advance(task)
        await pool.close(eid)
        task = progress.add_task(f"{backend}: warm pool, {args.concurrency} episodes in flight",
                                 total=2 * args.throughput_cells)
        per_episode = max(1, args.throughput_cells // args.concurrency)

        episodes = [uuid.uuid4().hex for _ in range(args.concurrency)]
        for e in episodes:
            await pool.open(e)
        await _spares_ready(pool)  # the taken spares are replaced before the timing starts

        async def episode(e: str) -> None:
            for _ in range(per_episode):
                await pool.run(e, TRIVIAL)
                progress.advance(task)

        cpu_before, started = _cpu_ticks(), time.perf_counter()
        await asyncio.gather(*(episode(e) for e in episodes))
        wall, cpu_after = time.perf_counter() - started, _cpu_ticks()
        cells = per_episode * args.concurrency
        cpu = _cpu_ms_per_cell(cpu_before, cpu_after, cells)
        for e in episodes:
            await pool.close(e)
        await _spares_ready(pool)
        started = time.perf_counter()  # the same with the episodes opened in the timed window: their
        await asyncio.gather(*(_open_run_close(pool, per_episode, progress, task)  # spares start meanwhile
                               for _ in range(args.concurrency)))
        with_starts = cells / (time.perf_counter() - started)
        opens, turnover = await _episodes(pool, args, progress, backend)
    return {"p50": _pct(lat, 0.5), "p99": _pct(lat, 0.99), "cells_per_s": cells / wall, "cpu": cpu, "channel": channel,
            "cells_per_s_with_starts": with_starts,
            "tool_p50": _pct(tool_lat, 0.5), "tool_p99": _pct(tool_lat, 0.99),
            "open_p50": _pct(opens, 0.5), "open_p99": _pct(opens, 0.99), "episodes_per_s": turnover}


async def _open_run_close(pool, cells: int, progress, task) -> None:
    e = uuid.uuid4().hex
    await pool.open(e)
    for _ in range(cells):
        await pool.run(e, TRIVIAL)
        progress.advance(task)
    await pool.close(e)


async def _spares_ready(pool, deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    while pool.stats()["free"] < pool.size:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pool did not get its {pool.size} spares back within {deadline_s:.0f}s")
        await asyncio.sleep(0.01)


async def _episodes(pool, args, progress, backend: str) -> tuple[list[float], float]:
    """(open() latencies with spares ready, sustained episodes per second)."""
    task = progress.add_task(f"{backend}: episode open (spares ready) and turnover", total=2 * args.episodes)
    opens = []
    for _ in range(args.episodes):
        await _spares_ready(pool)
        e = uuid.uuid4().hex
        started = time.perf_counter()
        await pool.open(e)
        opens.append(time.perf_counter() - started)
        await pool.run(e, TRIVIAL)
        await pool.close(e)
        progress.advance(task)
    await _spares_ready(pool)
    per_worker = max(1, args.episodes // args.concurrency)

    async def cycle() -> None:
        for _ in range(per_worker):
            e = uuid.uuid4().hex
            await pool.open(e)
            await pool.run(e, TRIVIAL)
            await pool.close(e)
            progress.advance(task)

    started = time.perf_counter()
    await asyncio.gather(*(cycle() for _ in range(args.concurrency)))
    return opens, per_worker * args.concurrency / (time.perf_counter() - started)


def _hardening(cfg) -> dict[str, Any]:
    return dict(user="65534:65534", network_mode="none", read_only=True, mem_limit=f"{cfg.memory_mb}m",
                memswap_limit=f"{cfg.memory_mb}m", nano_cpus=int(cfg.cpus * 1e9), pids_limit=cfg.pids,
                cap_drop=["ALL"], security_opt=["no-new-privileges"], tmpfs={"/tmp": f"size={cfg.tmpfs_mb}m"})


def _baselines(cfg, args, progress) -> dict[str, float]:
    from rlsys.sandbox.docker_backend import docker_client

    client = docker_client(cfg.docker_timeout_s)
    code = ["python3", "-I", "-c", TRIVIAL]
    task = progress.add_task("docker exec per cell", total=args.exec_cells)
    holder = client.containers.run(cfg.image, ["sleep", "600"], detach=True, auto_remove=True, **_hardening(cfg))
    exec_lat = []
    try:
        for _ in range(args.exec_cells):
            started = time.perf_counter()
            exit_code, _ = holder.exec_run(code)
            exec_lat.append(time.perf_counter() - started)
            assert exit_code == 0
            progress.advance(task)
    finally:
        holder.remove(force=True)
    task = progress.add_task("fresh container per cell", total=args.fresh_cells)
    fresh_lat = []
    for _ in range(args.fresh_cells):
        started = time.perf_counter()
        client.containers.run(cfg.image, code, remove=True, **_hardening(cfg))
        fresh_lat.append(time.perf_counter() - started)
        progress.advance(task)
    client.close()
    return {"exec_p50_ms": _pct(exec_lat, 0.5), "exec_p99_ms": _pct(exec_lat, 0.99),
            "exec_cells_per_s": len(exec_lat) / sum(exec_lat),
            "fresh_p50_ms": _pct(fresh_lat, 0.5), "fresh_p99_ms": _pct(fresh_lat, 0.99),
            "fresh_cells_per_s": len(fresh_lat) / sum(fresh_lat)}


async def _channel_ab(cfg, args) -> dict[str, Any]:
    """Socket vs attach channel, both pools warm at once, rounds alternating (and their order
    too) so that the machine's other load falls on both alike: medians of cells/s and CPU/cell."""
    import statistics

    from rlsys.sandbox.pool import SandboxPool

    pools = {ch: SandboxPool(cfg.model_copy(update={"docker_channel": ch}), _tool, size=args.concurrency,
                             backend="docker") for ch in ("socket", "attach")}
    rounds: dict[str, list[tuple[float, float]]] = {ch: [] for ch in pools}
    per_episode = max(1, args.throughput_cells // args.concurrency)
    try:
        for pool in pools.values():
            await pool.start()
        for i in range(args.channel_ab):
            for ch in (("socket", "attach") if i % 2 == 0 else ("attach", "socket")):
                pool, episodes = pools[ch], [uuid.uuid4().hex for _ in range(args.concurrency)]
                for e in episodes:
                    await pool.open(e)
                await _spares_ready(pool)
                before, started = _cpu_ticks(), time.perf_counter()
                await asyncio.gather(*(_cells(pool, e, per_episode) for e in episodes))
                wall, after = time.perf_counter() - started, _cpu_ticks()
                for e in episodes:
                    await pool.close(e)
                cells = per_episode * args.concurrency
                rounds[ch].append((cells / wall, sum(_cpu_ms_per_cell(before, after, cells).values())))
    finally:
        for pool in pools.values():
            await pool.shutdown()
    out: dict[str, Any] = {"channel_ab_rounds": args.channel_ab, "channel_ab_cells_per_round": per_episode * args.concurrency}
    for ch, r in rounds.items():
        out[f"channel_ab_{ch}_cells_per_s"] = statistics.median(x[0] for x in r)
        out[f"channel_ab_{ch}_cells_per_s_rounds"] = [round(x[0]) for x in r]
        out[f"channel_ab_{ch}_cpu_ms_per_cell"] = statistics.median(x[1] for x in r)
    return out


async def _cells(pool, episode: str, cells: int) -> None:
    for _ in range(cells):
        await pool.run(episode, TRIVIAL)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import shutil

    from rich.progress import Progress

    from rlsys.sandbox.config import SandboxConfig

    cfg = SandboxConfig(containers_per_worker=args.concurrency)
    if args.channel_ab:
        figures = {"cpu_cores": os.cpu_count(), "trivial_cell": TRIVIAL, **asyncio.run(_channel_ab(cfg, args))}
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
    figures: dict[str, Any] = {"cpu_cores": os.cpu_count(), "trivial_cell": TRIVIAL, "tool_cell_calls": 3}
    with Progress(transient=True) as progress:
        warm = asyncio.run(_warm(cfg, "docker", args, progress))
        figures.update({"warm_p50_ms": warm["p50"], "warm_p99_ms": warm["p99"],
                        "warm_cells_per_s": warm["cells_per_s"],
                        "warm_cells_per_s_spares_starting": warm["cells_per_s_with_starts"], "tool_cell_p50_ms": warm["tool_p50"],
                        "tool_cell_p99_ms": warm["tool_p99"], "episode_open_p50_ms": warm["open_p50"],
                        "episode_open_p99_ms": warm["open_p99"], "episodes_per_s": warm["episodes_per_s"],
                        "docker_channel": warm["channel"],
                        "cpu_ms_per_cell": warm["cpu"]})
        if args.compare_attach:
            at = asyncio.run(_warm(cfg.model_copy(update={"docker_channel": "attach"}), "docker", args, progress))
            figures.update({"attach_warm_p50_ms": at["p50"], "attach_warm_p99_ms": at["p99"],
                            "attach_warm_cells_per_s": at["cells_per_s"],
                            "attach_warm_cells_per_s_spares_starting": at["cells_per_s_with_starts"], "attach_tool_cell_p50_ms": at["tool_p50"],
                            "attach_episode_open_p50_ms": at["open_p50"], "attach_episodes_per_s": at["episodes_per_s"],
                            "attach_cpu_ms_per_cell": at["cpu"]})
        figures.update(_baselines(cfg, args, progress))
        if not args.no_bwrap and shutil.which("bwrap"):
            bw = asyncio.run(_warm(cfg, "bwrap", args, progress))
            figures.update({"bwrap_warm_p50_ms": bw["p50"], "bwrap_warm_p99_ms": bw["p99"],
                            "bwrap_warm_cells_per_s": bw["cells_per_s"],
                            "bwrap_warm_cells_per_s_spares_starting": bw["cells_per_s_with_starts"], "bwrap_tool_cell_p50_ms": bw["tool_p50"],
                            "bwrap_episode_open_p50_ms": bw["open_p50"], "bwrap_episode_open_p99_ms": bw["open_p99"],
                            "bwrap_episodes_per_s": bw["episodes_per_s"], "bwrap_cpu_ms_per_cell": bw["cpu"]})
    figures["speedup_vs_fresh"] = figures["fresh_p50_ms"] / figures["warm_p50_ms"]
    figures["speedup_vs_exec"] = figures["exec_p50_ms"] / figures["warm_p50_ms"]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}



