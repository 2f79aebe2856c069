"""`rlsys bench learner`: training tokens/s, step time and peak memory of one GRPO step.

A step is `--trajectories` (24, one GRPO group) trajectories of `--tokens` tokens each: a prompt
(masked), then generated segments (trained) alternating with tool outputs (masked), with rewards
spread so that no group is skipped. Shapes:
  - `tiny` (default, CPU): the tiny Qwen3-architecture model, random init, float32.
  - `qwen3-4b` (GPU): Qwen3-4B's shape with random init, bf16, LoRA r=16, gradient checkpointing,
    24 x 2,048 tokens, micro-batch 1.
Figures are medians over `--repeats` timed steps after one warm-up step; a baseline measured
side by side in the same run (micro-batch 1, `--baseline-micro-batch`) gives the speed-up of
length-bucketed micro-batching. Peak memory: process max RSS on CPU, `max_memory_allocated` on GPU.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from typing import Any

HELP = "GRPO step tokens/s, step time and peak memory (tiny model on CPU; --shape qwen3-4b on a GPU)"

# name -> (vocab, hidden, layers, heads, kv heads, head_dim, intermediate)
SHAPES = {
    "tiny": (4096, 256, 4, 4, 2, 64, 768),
    "qwen3-4b": (151936, 2560, 36, 32, 8, 128, 9728),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny", help="model shape (default tiny)")
    parser.add_argument("--trajectories", type=int, default=24, help="trajectories per step (default 24)")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per trajectory (default 512 tiny, 2048 qwen3-4b)")
    parser.add_argument("--micro-batch", type=int, default=None, help="trajectories per micro-batch (default 8 tiny, 1 qwen3-4b)")
    parser.add_argument("--baseline-micro-batch", type=int, default=None,
                        help="also time this micro-batch size side by side (default 1 on tiny, off on qwen3-4b; 0 = off)")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps (default 3)")
    parser.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    parser.add_argument("--no-gradient-checkpointing", action="store_true", help="keep activations (default: on for qwen3-4b)")


def _base_model(shape: str, device, dtype):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    vocab, hidden, layers, heads, kv, head_dim, inter = SHAPES[shape]
    config = Qwen3Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim,
                         max_position_embeddings=40960, tie_word_embeddings=True, pad_token_id=0)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3ForCausalLM(config).to(dtype)
    return model


def _groups(n: int, tokens: int, vocab: int, group_size: int = 24) -> list[list[Any]]:
    import random

    from rlsys.corpus.types import Question
    from rlsys.rollout.types import Trajectory

    rng = random.Random(0)
    q = Question(id="bench", question="?", answer="!")
    groups, group = [], []
    prompt = max(2, tokens // 8)
    for i in range(n):
        ids = [rng.randrange(vocab) for _ in range(tokens)]
        mask = [0] * prompt
        while len(mask) < tokens:  # generated segment, then a tool output
            mask += [1] * rng.randint(tokens // 16, tokens // 6) + [0] * rng.randint(tokens // 16, tokens // 6)
        mask = mask[:tokens]
        blp = [-rng.uniform(0.5, 4.0) if m else 0.0 for m in mask]
        group.append(Trajectory(f"b{i}", q, ids, mask, blp, prompt_len=prompt, temperature=rng.uniform(0.7, 1.15),
                                reward=float(i % 3)))
        if len(group) == group_size:
            groups.append(group)
            group = []
    if group:
        groups.append(group)
    return groups


def _time_steps(learner, groups, repeats: int, cuda: bool) -> list[float]:
    import torch

    times = []
    for i in range(repeats + 1):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        metrics = learner.grpo_step(groups, policy_version=0)  # the same (never stale) batch each time
        if metrics["skipped"] or metrics["trained_trajectories"] != sum(map(len, groups)):
            raise RuntimeError(f"benchmark step did not train on every trajectory: {metrics}")
        if cuda:
            torch.cuda.synchronize()
        if i > 0:  # the first step warms up
            times.append(time.perf_counter() - start)
    return times


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from rlsys.learner.config import LearnerConfig, LoraConfig
    from rlsys.learner.learner import Learner

    gpu_shape = args.shape != "tiny"
    cuda = torch.cuda.is_available()
    if gpu_shape and not cuda:
        raise SystemExit(f"rlsys bench learner: --shape {args.shape} needs a CUDA GPU (none here); use --shape tiny")
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    tokens = args.tokens or (2048 if gpu_shape else 512)
    micro = args.micro_batch or (1 if gpu_shape else 8)
    baseline_micro = args.baseline_micro_batch if args.baseline_micro_batch is not None else (0 if gpu_shape else 1)
    checkpointing = gpu_shape and not args.no_gradient_checkpointing
    groups = _groups(args.trajectories, tokens, SHAPES[args.shape][0])

    def measure(micro_batch: int) -> list[float]:
        cfg = LearnerConfig(lora=LoraConfig(r=args.lora_r, alpha=2 * args.lora_r), lr=1e-5, micro_batch=micro_batch,
                            gradient_checkpointing=checkpointing, max_tokens=max(tokens, 8192))
        learner = Learner(cfg, base_model=_base_model(args.shape, device, dtype), pad_id=0, device=device)
        times = _time_steps(learner, groups, args.repeats, cuda)
        del learner
        return times

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = measure(micro)
    step_s = statistics.median(times)
    peak_mb = (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20
    total_tokens = args.trajectories * tokens
    figures: dict[str, Any] = {
        "shape": args.shape, "device": torch.cuda.get_device_name() if cuda else "cpu", "dtype": str(dtype).split(".")[-1],
        "trajectories": args.trajectories, "tokens_per_trajectory": tokens, "micro_batch": micro,
        "gradient_checkpointing": checkpointing, "lora_r": args.lora_r, "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "tokens_per_s": total_tokens / step_s, "step_s": step_s, "step_s_all": times, "peak_mem_mb": peak_mb,
    }
    if baseline_micro:
        base_times = measure(baseline_micro)
        base_s = statistics.median(base_times)
        figures.update(baseline_micro_batch=baseline_micro, baseline_step_s=base_s,
                       baseline_tokens_per_s=total_tokens / base_s, speedup_vs_baseline=base_s / step_s)
    return figures
