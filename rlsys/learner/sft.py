"""Supervised fine-tuning of the LoRA policy on expert trajectories (loss on assistant tokens only).

    sft = SFTRunner(cfg.sft, cfg.learner.lora, model, pad_id, data)   # data: sft_data.prepare(...)
    result = sft.train(checkpoint_dir="runs/sft/checkpoints")          # resumes if one is there
    sft.save_adapter("runs/sft/adapter"); plot_losses(result, "runs/sft/loss.png")

Each optimizer step takes `batch_size` sequences (gradient accumulation over micro-batches of
`micro_batch`); the loss is the mean negative log-likelihood over the step's trained tokens.
The epoch order is a permutation seeded by (seed, epoch), so the data position (epoch, batch)
is all a checkpoint needs to continue bit-for-bit.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from rlsys.learner.adapter import save_adapter
from rlsys.learner.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from rlsys.learner.config import LoraConfig, SFTConfig
from rlsys.learner.logprobs import token_logprobs
from rlsys.learner.microbatch import MicroBatch, Sample, make_micro_batches
from rlsys.learner.policy import attach_lora
from rlsys.learner.sft_data import SFTData, SFTExample
from rlsys.learner.trainer import Trainer, warmup_decay

log = logging.getLogger(__name__)


@dataclass
class SFTResult:
    train_losses: list[tuple[int, float]] = field(default_factory=list)       # (step, loss)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)        # (step, loss)
    steps: int = 0
    stats: dict[str, int] = field(default_factory=dict)


def _samples(examples: list[SFTExample], order: list[int]) -> list[Sample]:
    return [Sample(examples[i].token_ids, examples[i].loss_mask, index=i) for i in order]


def nll_loss(model, mb: MicroBatch, denominator: float, device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of -log p over trained tokens / `denominator` (the step's trained-token count)."""
    mb = mb.to(device)
    logprobs, _ = token_logprobs(model, mb.input_ids, mb.attention_mask)
    tokens = float(mb.loss_mask.sum().item())
    return -(logprobs * mb.loss_mask).sum() / denominator, {"tokens": tokens}


class SFTRunner:
    """Owns the LoRA model, trainer and data position of one SFT run."""

    def __init__(
        self,
        cfg: SFTConfig,
        lora: LoraConfig,
        base_model,
        pad_id: int,
        data: SFTData,
        gradient_checkpointing: bool = False,
        adapter_path: str | Path | None = None,
        device: torch.device | None = None,
    ):
        self.cfg, self.data, self.pad_id = cfg, data, pad_id
        self.device = device or next(base_model.parameters()).device
        torch.manual_seed(cfg.seed)
        self.model = attach_lora(base_model, lora, gradient_checkpointing, adapter_path)
        self.batches_per_epoch = -(-len(data.train) // cfg.batch_size)
        self.total_steps = self.batches_per_epoch * cfg.epochs
        warmup = int(round(cfg.warmup_ratio * self.total_steps))
        self.trainer = Trainer(self.model, cfg.lr, cfg.grad_clip, cfg.weight_decay,
                               warmup_decay(warmup, self.total_steps, cfg.lr_schedule))
        self.step = 0
        self.result = SFTResult(stats=dict(data.stats))

    def _epoch_order(self, epoch: int) -> list[int]:
        order = list(range(len(self.data.train)))
        random.Random(self.cfg.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def _batch(self, step: int) -> list[Sample]:
        epoch, index = divmod(step, self.batches_per_epoch)
        order = self._epoch_order(epoch)[index * self.cfg.batch_size : (index + 1) * self.cfg.batch_size]
        return _samples(self.data.train, order)

    def train_step(self) -> float:
        samples = self._batch(self.step)
        denominator = float(sum(sum(s.loss_mask[1:]) for s in samples))
        batches = make_micro_batches(samples, self.cfg.micro_batch, self.pad_id)
        out = self.trainer.step(batches, lambda model, mb: nll_loss(model, mb, denominator, self.device))
        self.step += 1
        self.result.train_losses.append((self.step, out.loss))
        self.result.steps = self.step
        return out.loss

    @torch.no_grad()
    def evaluate(self, examples: list[SFTExample] | None = None) -> float:
        """Token-mean NLL on the held-out examples (nan when there are none)."""
        examples = self.data.eval if examples is None else examples
        if not examples:
            return float("nan")
        self.model.eval()
        samples = _samples(examples, list(range(len(examples))))
        total = float(sum(sum(s.loss_mask[1:]) for s in samples))
        loss = 0.0
        for mb in make_micro_batches(samples, self.cfg.micro_batch, self.pad_id):
            loss += nll_loss(self.model, mb, total, self.device)[0].item()
        self.model.train()
        return loss

    def train(
        self,
        checkpoint_dir: str | Path | None = None,
        max_steps: int | None = None,
        on_step: Callable[[int, float], None] | None = None,
    ) -> SFTResult:
        """Runs to the end of the last epoch (or `max_steps`), resuming from `checkpoint_dir` if it has one."""
        if checkpoint_dir is not None and latest_checkpoint(checkpoint_dir) is not None:
            self.resume(checkpoint_dir)
        end = self.total_steps if max_steps is None else min(self.total_steps, max_steps)
        if self.step == 0 and self.data.eval:
            self.result.eval_losses.append((0, self.evaluate()))
        while self.step < end:
            loss = self.train_step()
            if on_step:
                on_step(self.step, loss)
            if self.step % self.batches_per_epoch == 0 and self.data.eval:
                self.result.eval_losses.append((self.step, self.evaluate()))
                log.info("SFT epoch %d: train loss %.4f, eval loss %.4f", self.step // self.batches_per_epoch,
                         loss, self.result.eval_losses[-1][1])
            if checkpoint_dir is not None and self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                self.save_checkpoint(checkpoint_dir)
        evaluated = self.result.eval_losses and self.result.eval_losses[-1][0] == self.step
        if self.data.eval and not evaluated:  # stopped mid-epoch (max_steps): evaluate where it stopped
            self.result.eval_losses.append((self.step, self.evaluate()))
        return self.result

    def save_checkpoint(self, root: str | Path) -> Path:
        data_state = {"step": self.step, "train_losses": self.result.train_losses, "eval_losses": self.result.eval_losses}
        return save_checkpoint(root, self.step, self.model, self.trainer, self.step, data_state,
                               {"sft": self.cfg.model_dump()})

    def resume(self, path: str | Path) -> None:
        state = load_checkpoint(path, self.model, self.trainer)
        self.step = int(state.data_state["step"])
        self.result.train_losses = [tuple(x) for x in state.data_state.get("train_losses", [])]
        self.result.eval_losses = [tuple(x) for x in state.data_state.get("eval_losses", [])]
        self.result.steps = self.step

    def save_adapter(self, out_dir: str | Path) -> Path:
        return save_adapter(self.model, out_dir, 0)


def plot_losses(result: SFTResult, out_png: str | Path, title: str = "SFT loss") -> Path:
    """Train (per step) and eval (per epoch) loss curves as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    if result.train_losses:
        ax.plot(*zip(*result.train_losses), label="train", lw=1)
    if result.eval_losses:
        ax.plot(*zip(*result.eval_losses), "o-", label="eval")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("NLL per assistant token")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
