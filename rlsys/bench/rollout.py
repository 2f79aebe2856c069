"""`rlsys bench rollout`: episodes/s, tokens/s and engine idle time for groups of K episodes.

Runs the real path on CPU: the tiny model in `HFEngine`, the corpus service over the preset's
index, and a warm `SandboxPool`. The overlapped run (K episodes of each question at once, all
sharing the engine's batches) is measured side by side with a sequential baseline (one
episode at a time). `engine_idle_fraction` is the share of wall time no generation batch was
running, i.e. the engine waited for the sandbox or the corpus (busy time is summed per decode
step in the engine thread, so it can slightly exceed the wall time; the fraction is clipped at 0).

A random-init model rarely writes a `<python>` tag, so by default the bench gives the LM head
a bias towards the protocol tags (`--tag-bias 0` turns it off): episodes then write (random)
cells that go through the sandbox, as a trained policy's would. `--model` takes any HF folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from typing import Any

HELP = "rollout throughput: episodes/s, tokens/s, engine idle fraction (K episodes per question, CPU)"
TAG_BIAS = {"<python>": 1.0, "</python>": 1.0, "<answer>": 0.7, "</answer>": 0.8, "<|im_end|>": 0.5}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--k", type=int, default=24, help="episodes per question (default 24)")
    parser.add_argument("--questions", type=int, default=2, help="questions run at once (default 2)")
    parser.add_argument("--baseline-episodes", type=int, default=6, help="episodes of the sequential baseline")
    parser.add_argument("--model", default=None, help="model folder (default: model.path, tiny model built if missing)")
    parser.add_argument("--tag-bias", type=float, default=5.0,
                        help="logit bias scale towards protocol tags for random-init models (0 = off)")
    parser.add_argument("--device", default="cpu", help="HF engine device (default cpu)")
    parser.add_argument("--engine", nargs="+", choices=["hf", "vllm"], default=["hf"],
                        help="engines measured one after the other on the same questions (default hf); "
                             "with vllm the tag bias is off for all (it cannot be put into a vLLM engine)")


def add_tag_bias(model, tokenizer, scale: float) -> None:
    """Adds a bias towards the protocol tags to the (tied) LM head, keeping its weights."""
    import torch

    head = model.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    biased.weight = head.weight
    with torch.no_grad():
        biased.bias.zero_()
        for tag, weight in TAG_BIAS.items():
            biased.bias[tokenizer.convert_tokens_to_ids(tag)] = scale * weight
    model.lm_head = biased


async def _measure(engine, groups_of: list[tuple[Any, int]], run) -> dict[str, Any]:
    def hits() -> int:
        prefix = getattr(engine, "prefix", None)  # HF's prefix cache (vLLM's is internal)
        return prefix.hits if prefix is not None else 0

    busy0, tokens0 = engine.stats.busy_s, engine.stats.generated_tokens
    steps0, rows0, hits0 = getattr(engine.stats, "steps", 0), getattr(engine.stats, "batch_rows", 0), hits()
    started = time.perf_counter()
    results = await run()
    wall = time.perf_counter() - started
    trajectories = [t for group in results for t in group]
    busy = engine.stats.busy_s - busy0
    steps = getattr(engine.stats, "steps", 0) - steps0
    cells = [turn.result.duration_s for t in trajectories for turn in t.turns if turn.result is not None]
    return {
        "episodes": len(trajectories),
        "wall_s": round(wall, 3),
        "episodes_per_s": round(len(trajectories) / wall, 4),
        "tokens_per_s": round((engine.stats.generated_tokens - tokens0) / wall, 2),
        "engine_idle_fraction": round(max(0.0, 1.0 - busy / wall), 4),
        "engine_busy_s": round(busy, 3),
        "prefix_cache_hits": hits() - hits0,
        "mean_batch": round((getattr(engine.stats, "batch_rows", 0) - rows0) / max(1, steps), 2) if steps else None,
        "cells_run": len(cells),
        "median_cell_s": round(statistics.median(cells), 4) if cells else None,
        "median_episode_s": round(statistics.median(t.timings["total_s"] for t in trajectories), 3),
        "end_reasons": dict(Counter(t.end_reason.value for t in trajectories)),
    }


def _engine(kind: str, cfg, model_path, concurrency: int, args: argparse.Namespace):
    """The engine as a rollout worker builds it (vLLM with the policy's LoRA slots), or HF on `--device`."""
    if kind == "vllm":
        from rlsys.rollout.engines import build_engine, lora_settings

        lora = cfg.learner.lora
        rollout = cfg.rollout.model_copy(update={"concurrency": concurrency})
        engine, _ = build_engine(cfg.model, rollout, lora_settings(lora.r, lora.alpha, lora.target_modules),
                                 max_staleness=cfg.train.max_staleness, model_path=model_path)
        return engine
    from rlsys.rollout.engines import load_engine

    engine, _ = load_engine(model_path, "hf", device=args.device, dtype=cfg.model.dtype, max_batch=concurrency,
                            seed=cfg.rollout.seed)
    if args.tag_bias and "vllm" not in args.engine:
        add_tag_bias(engine.model, engine.tokenizer, args.tag_bias)
    return engine


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    """One result per engine in `--engine` (the single result itself when only one is asked)."""
    results = {kind: await _bench_engine(args, kind) for kind in args.engine}
    return results[args.engine[0]] if len(results) == 1 else results


async def _bench_engine(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    from rlsys.config import config_from_args
    from rlsys.corpus.loaders import load_questions
    from rlsys.corpus.service import CorpusService
    from rlsys.rollout.episode import EpisodeLimits, run_episode, run_group
    from rlsys.rollout.tiny_model import ensure_model
    from rlsys.sandbox.pool import SandboxPool

    cfg = config_from_args(args)
    model_path = args.model or ensure_model(cfg.model)
    corpus = CorpusService.from_config(cfg.corpus)
    questions = [q for q in load_questions(cfg.corpus) if q.split == "train"][: max(args.questions, 1)]
    concurrency = max(cfg.rollout.concurrency, args.k * args.questions)
    engine = _engine(kind, cfg, model_path, concurrency, args)
    tok = engine.tokenizer
    limits = EpisodeLimits.from_config(cfg.rollout, cfg.sandbox.cell_timeout_s)
    async with SandboxPool(cfg.sandbox, corpus.call_tool) as pool:
        await run_episode(questions[0], engine, tok, pool, limits, 1.0, seed=0)  # warm-up
        semaphore = asyncio.Semaphore(concurrency)

        async def overlapped():
            return await asyncio.gather(*(
                run_group(q, args.k, engine, tok, pool, cfg.rollout, cfg.sandbox.cell_timeout_s,
                          seed=cfg.rollout.seed, semaphore=semaphore) for q in questions))

        async def sequential():
            out = []
            for i in range(args.baseline_episodes):
                out.append(await run_episode(questions[i % len(questions)], engine, tok, pool, limits, 0.9, seed=i))
            return [out]

        overlap = await _measure(engine, [], overlapped)
        baseline = await _measure(engine, [], sequential)
        sandbox_kind = pool.kind
    await engine.close()
    n_params = sum(p.numel() for p in engine.model.parameters()) if hasattr(engine, "model") else None
    return {
        "engine": kind,
        "episodes_per_s": overlap["episodes_per_s"],
        "tokens_per_s": overlap["tokens_per_s"],
        "engine_idle_fraction": overlap["engine_idle_fraction"],
        "speedup_vs_sequential": round(overlap["episodes_per_s"] / max(baseline["episodes_per_s"], 1e-9), 2),
        "k": args.k,
        "questions": len(questions),
        "overlapped": overlap,
        "sequential_baseline": baseline,
        "setup": {
            "model": str(model_path), "parameters": n_params, "device": args.device if kind == "hf" else "vllm",
            "tag_bias": 0.0 if "vllm" in args.engine else args.tag_bias,
            "sandbox": sandbox_kind, "sandboxes": pool.size, "max_turns": cfg.rollout.max_turns,
            "max_new_tokens": cfg.rollout.max_new_tokens, "cpu_threads": os.environ.get("OMP_NUM_THREADS"),
        },
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    return asyncio.run(_bench(args))
