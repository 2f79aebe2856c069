"""`LearnerActor`: a thin Ray actor around `rlsys.learner.Learner`.

    actors = create_learner_actors(cfg, options=lambda rank: groups.options("learner", rank))
    metrics = ray.get([a.grpo_step.remote(groups, version) for a in actors])[0]
    version, tensors = ray.get(actors[0].export_adapter.remote())

With DeepSpeed (`learner.deepspeed_stage > 0`, `learner.gpus > 1`) every rank gets the same
groups and trains on its shard of the micro-batches; rank 0's adapter is the policy. Each rank
gets its own placement-group bundle (`options(rank)`). Start-up has deadlines: every rank must
be placed within `cluster.placement_timeout_s`, the ranks must rendezvous within
`cluster.rendezvous_timeout_s` and set up within `cluster.learner_setup_timeout_s`; a rank that
misses one fails the start with a `LearnerStartError` naming the rank and what it waited for.
Checkpoints are collective under DeepSpeed: call `save_checkpoint` on every rank (rank 0 writes).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable

import ray

from rlsys.config import Config
from rlsys.rollout.types import Trajectory


@ray.remote(num_cpus=0.5)
class LearnerActor:
    """Holds one learner rank; `setup` builds it (separately, so DeepSpeed ranks can rendezvous)."""

    def __init__(self, cfg: Config | dict[str, Any], rank: int = 0, world: int = 1):
        os.environ["OMP_NUM_THREADS"] = "1"
        self.cfg = cfg if isinstance(cfg, Config) else Config.model_validate(cfg)
        self.rank, self.world = rank, world
        self.learner = None

    def process_id(self) -> int:
        """The rank's process id (fault tests kill one rank's process)."""
        return os.getpid()

    def node_ip(self) -> str:
        return ray.util.get_node_ip_address()

    def free_port(self) -> int:
        with socket.socket() as s:
            s.bind(("", 0))
            return s.getsockname()[1]

    def setup(self, adapter_path: str | None = None, master_addr: str | None = None, master_port: int | None = None) -> int:
        """Loads the policy (base model, optional SFT adapter); returns the policy version."""
        import torch

        from rlsys.learner.learner import Learner
        from rlsys.rollout.tiny_model import ensure_model

        torch.set_num_threads(1)
        if self.world > 1:
            from rlsys.learner.deepspeed_setup import init_distributed

            os.environ.update(RANK=str(self.rank), LOCAL_RANK="0", WORLD_SIZE=str(self.world),
                              MASTER_ADDR=str(master_addr), MASTER_PORT=str(master_port))
            init_distributed(timeout_s=self.cfg.cluster.rendezvous_timeout_s)  # fails by the deadline
        model_path = ensure_model(self.cfg.model)
        self.learner = Learner(self.cfg.learner, model_path, dtype=self.cfg.model.dtype,
                               max_staleness=self.cfg.train.max_staleness, adapter_path=adapter_path,
                               seed=self.cfg.train.seed)
        return self.learner.version

    def _ready(self):
        if self.learner is None:
            raise RuntimeError("LearnerActor.setup() has not been called")
        return self.learner

    def grpo_step(self, groups: list[list[Trajectory]], policy_version: int | None = None) -> dict[str, Any]:
        return self._ready().grpo_step(groups, policy_version)

    def export_adapter(self) -> tuple[int, dict[str, Any]]:
        return self._ready().export_adapter()

    def version(self) -> int:
        return self._ready().version

    def save_adapter(self, out_dir: str) -> str:
        return str(self._ready().save_adapter(out_dir))

    def save_checkpoint(self, root: str, data_state: dict | None = None, config: dict | None = None,
                        step: int | None = None) -> str:
        return str(self._ready().save_checkpoint(root, data_state, config, step))

    def release_memory(self) -> None:
        """Hands cached accelerator memory back (collocated phases: before the engines wake)."""
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def load_checkpoint(self, path: str) -> dict[str, Any]:
        state = self._ready().load_checkpoint(Path(path))
        return {"step": state.step, "version": state.version, "data_state": state.data_state, "path": str(state.path)}


class LearnerStartError(RuntimeError):
    """A learner rank that was not placed, did not rendezvous or did not set up in time."""


RankOptions = dict[str, Any] | Callable[[int], dict[str, Any]] | None


def _wait_all(refs: list[Any], timeout_s: float, what: str, hint: Callable[[list[int]], str]) -> list[Any]:
    """ray.get of one ref per rank with one deadline; the error names the ranks still missing."""
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    if pending:
        missing = [rank for rank, ref in enumerate(refs) if ref in pending]
        raise LearnerStartError(
            f"learner rank(s) {missing} of {len(refs)} {what} within {timeout_s:.0f} s; {hint(missing)}")
    return ray.get(refs)


def create_learner_actors(cfg: Config, adapter_path: str | None = None, options: RankOptions = None) -> list[Any]:
    """Creates and sets up the learner: one actor, or `learner.gpus` DeepSpeed ranks.

    `options` are the `.options(...)` of a rank: a dict (every rank) or `options(rank)` (one
    placement-group bundle per rank)."""
    from rlsys.actors.placement import describe_nodes, learner_ranks

    world = learner_ranks(cfg)
    deadlines = cfg.cluster

    def rank_options(rank: int) -> dict[str, Any]:
        return dict(options(rank) if callable(options) else (options or {}))

    actors = [LearnerActor.options(**rank_options(rank)).remote(cfg.model_dump(), rank, world) for rank in range(world)]
    try:
        ips = _wait_all([a.node_ip.remote() for a in actors], deadlines.placement_timeout_s, "were not placed",
                        lambda missing: f"rank {missing[0]} asks for {rank_options(missing[0])}; "
                                        f"nodes offer: {describe_nodes()}")
        master_addr = master_port = None
        if world > 1:
            master_addr, master_port = ips[0], ray.get(actors[0].free_port.remote(), timeout=deadlines.placement_timeout_s)
        _wait_all([a.setup.remote(adapter_path, master_addr, master_port) for a in actors],
                  deadlines.rendezvous_timeout_s + deadlines.learner_setup_timeout_s, "did not set up",
                  lambda missing: f"rendezvous at {master_addr}:{master_port} (cluster.rendezvous_timeout_s, "
                                  "cluster.learner_setup_timeout_s)")
    except BaseException:
        for actor in actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        raise
    return actors
