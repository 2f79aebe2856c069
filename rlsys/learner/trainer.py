"""The algorithm-blind optimizer step: gradient accumulation over micro-batches, grad-norm clipping,
AdamW and a learning-rate schedule, on the plain torch path or a DeepSpeed ZeRO engine.

    trainer = Trainer(model, lr=1e-5, grad_clip=1.0, schedule=warmup_constant(10))
    metrics = trainer.step(micro_batches, loss_fn)   # loss_fn(model, mb) -> (loss, stats)

`loss_fn` returns each micro-batch's share of the step loss (already divided by the step's
normaliser), so the accumulated gradient is the full-batch gradient. Under DeepSpeed every
rank must call `step` with its shard of micro-batches; ranks with fewer run zero-loss passes
so every rank performs the same number of backward passes (ZeRO-2 reduces in each one).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from rlsys.learner.policy import trainable_parameters

LossFn = Callable[[Any, Any], tuple[torch.Tensor, dict[str, float]]]
Schedule = Callable[[int], float]  # optimizer step -> lr multiplier


def warmup_constant(warmup_steps: int) -> Schedule:
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def warmup_decay(warmup_steps: int, total_steps: int, kind: str = "cosine") -> Schedule:
    """Linear warmup to 1, then cosine or linear decay to 0 at `total_steps` (or constant)."""

    def schedule(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps + 1) / max(1, total_steps - warmup_steps))
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"unknown lr schedule {kind!r} (cosine, linear, constant)")

    return schedule


@dataclass
class StepResult:
    loss: float                 # the step loss (sum of the micro-batch shares, over all ranks)
    grad_norm: float            # global gradient norm before clipping
    lr: float                   # learning rate used by this step
    step_s: float               # wall time of the step
    stats: list[dict[str, float]] = field(default_factory=list)  # loss_fn stats per micro-batch


class Trainer:
    """Owns the optimizer (and DeepSpeed engine, if any) of a model's trainable parameters."""

    def __init__(
        self,
        model,
        lr: float,
        grad_clip: float = 1.0,
        weight_decay: float = 0.0,
        schedule: Schedule | None = None,
        deepspeed_stage: int = 0,
        bf16: bool = False,
    ):
        self.model = model
        self.grad_clip = grad_clip
        self.params = trainable_parameters(model)
        if not self.params:
            raise ValueError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule or (lambda step: 1.0))
        self.steps = 0
        self.engine = None
        self.rank, self.world = 0, 1
        if deepspeed_stage == 3:
            raise ValueError(
                "deepspeed_stage=3 is refused: ZeRO-3 partitions the LoRA parameters, and the adapter export "
                "and checkpoints read them whole; use stage 1 or 2")
        if deepspeed_stage > 0:
            from rlsys.learner.deepspeed_setup import init_engine

            self.engine = init_engine(model, self.optimizer, self.scheduler, deepspeed_stage, grad_clip, bf16)
            import torch.distributed as dist

            self.rank, self.world = dist.get_rank(), dist.get_world_size()

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def shard(self, items: list) -> list:
        """This rank's share of `items`, padded with None so every rank gets the same count."""
        per_rank = -(-len(items) // self.world)
        mine = items[self.rank :: self.world]
        return mine + [None] * (per_rank - len(mine))

    def _zero_loss(self) -> torch.Tensor:
        return sum(p.sum() for p in self.params) * 0.0

    def step(self, micro_batches: Iterable, loss_fn: LossFn, on_micro_batch: Callable[[], None] | None = None) -> StepResult:
        """One optimizer step over `micro_batches` (None entries are zero-loss padding)."""
        start = time.perf_counter()
        self.model.train()
        if self.engine is None:
            self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        stats_list: list[dict[str, float]] = []
        for mb in micro_batches:
            if mb is None:
                loss, stats = self._zero_loss(), {}
            else:
                loss, stats = loss_fn(self.engine if self.engine is not None else self.model, mb)
            if self.engine is not None:
                # DeepSpeed averages gradients over ranks; the loss is a share of the global sum.
                self.engine.backward(loss * self.world, scale_wrt_gas=False)
            else:
                loss.backward()
            total += float(loss.detach().item())
            if stats:
                stats_list.append(stats)
            if on_micro_batch:
                on_micro_batch()
        lr = self.lr
        if self.engine is not None:
            total, stats_list = self._gather(total, stats_list)
            self.engine.step()
            grad_norm = self.engine.get_global_grad_norm()
            grad_norm = float(grad_norm) if grad_norm is not None else float("nan")
        else:
            clip = self.grad_clip if self.grad_clip and self.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, clip).item())
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        return StepResult(total, grad_norm, lr, time.perf_counter() - start, stats_list)

    def _gather(self, loss: float, stats: list[dict[str, float]]) -> tuple[float, list[dict[str, float]]]:
        """The step loss summed over ranks and every rank's micro-batch stats (metrics are global)."""
        import torch.distributed as dist

        gathered: list = [None] * self.world
        dist.all_gather_object(gathered, (loss, stats))
        return sum(g[0] for g in gathered), [s for g in gathered for s in g[1]]

    def state_dict(self) -> dict[str, Any]:
        """Optimizer (full per-parameter state, the same format on both paths), scheduler, steps.

        Under DeepSpeed this is collective: every rank must call it (the partitioned optimizer
        state is assembled over ranks); any rank's result is the whole state."""
        if self.engine is not None:
            from rlsys.learner.deepspeed_state import gather_optimizer_state

            optimizer = gather_optimizer_state(self.optimizer, self.params)
        else:
            optimizer = self.optimizer.state_dict()
        return {"optimizer": optimizer, "scheduler": self.scheduler.state_dict(), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores `state_dict()`'s result (from either path); under DeepSpeed call it on every
        rank after the model's trainable weights are loaded (they become the fp32 master copy)."""
        if self.engine is not None:
            from rlsys.learner.deepspeed_state import scatter_optimizer_state

            scatter_optimizer_state(self.engine.optimizer, self.optimizer, self.params, state["optimizer"])
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.steps = int(state["steps"])
