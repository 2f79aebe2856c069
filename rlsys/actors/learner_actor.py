"""`LearnerActor`: a thin Ray actor around `rlsys.learner.Learner`.

    actors = create_learner_actors(cfg)            # 1, or `learner.gpus` ranks under DeepSpeed
    metrics = ray.get([a.grpo_step.remote(groups, version) for a in actors])[0]
    version, tensors = ray.get(actors[0].export_adapter.remote())

With DeepSpeed (`learner.deepspeed_stage > 0`, `learner.gpus > 1`) every rank gets the same
groups and trains on its shard of the micro-batches; rank 0's adapter is the policy.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

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
            os.environ.update(RANK=str(self.rank), LOCAL_RANK="0", WORLD_SIZE=str(self.world),
                              MASTER_ADDR=str(master_addr), MASTER_PORT=str(master_port))
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


def create_learner_actors(cfg: Config, adapter_path: str | None = None, options: dict[str, Any] | None = None) -> list[Any]:
    """Creates and sets up the learner: one actor, or `learner.gpus` DeepSpeed ranks (one GPU each)."""
    world = cfg.learner.gpus if cfg.learner.deepspeed_stage > 0 else 1
    opts = dict(options or {})
    if world > 1:
        opts.setdefault("num_gpus", 1)
    actors = [LearnerActor.options(**opts).remote(cfg.model_dump(), rank, world) for rank in range(world)]
    master_addr = master_port = None
    if world > 1:
        master_addr, master_port = ray.get([actors[0].node_ip.remote(), actors[0].free_port.remote()])
    ray.get([a.setup.remote(adapter_path, master_addr, master_port) for a in actors])
    return actors
