"""`rlsys bench search`: single sample vs best-of-N vs beam search, and recovery after a miss.

    rlsys bench search --adapter runs/demo/adapter --compare-adapter runs/demo-norecovery/sft/adapter \\
        --questions 32 --n 4 8 --json search.json

On the held-out split, with the policy (`--adapter` on the preset's base model) in `HFEngine`/vLLM,
cells in a local `SandboxPool` over the corpus service, verdicts from the rule judge (`judge.kind`
rule; the gold is used only to score, never to pick):

- `single`: the first of max(N) seeded samples per question (at `rollout.temperature_min`);
- `best-of-N`: the scorer's pick among the first N of those samples (same samples for every N);
- `beam-N`: beam search with width N, branching on the first `--depth` turns (`strategies.beam`).

Each method reports accuracy, generated tokens and sandbox cells per question (its compute budget)
and, against `single`, the accuracy difference in points with a paired bootstrap 95% interval.
`recovery` is the share of sampled episodes that missed a search and were then correct and
recovered (`judge.search_recovery`), for `--adapter` and, given, `--compare-adapter` (e.g. the SFT
adapter trained without recovery trajectories, `sft.recovery_share=0`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

HELP = "inference-time search: single vs best-of-N vs beam at N = 4, 8 (paired bootstrap), recovery after a miss"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--adapter", default=None, help="the policy's PEFT adapter (default: the base model)")
    parser.add_argument("--compare-adapter", default=None,
                        help="a second adapter whose recovery rate is reported next to --adapter's")
    parser.add_argument("--questions", type=int, default=32, help="held-out questions (default 32)")
    parser.add_argument("--n", type=int, nargs="+", default=[4, 8], help="widths N of best-of-N and beam (default 4 8)")
    parser.add_argument("--depth", type=int, default=1, help="turns on which beam search branches (default 1)")
    parser.add_argument("--scorer", default="grounded", help="gold-free scorer of the picks (grounded, vote)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=12345, help="sampling seed base (default 12345)")


async def _load_adapter(engine: Any, adapter: str | None) -> None:
    import json
    from pathlib import Path

    from rlsys.learner.adapter import read_adapter_dir

    if adapter is None:
        return
    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise SystemExit(f"rlsys bench search: {adapter} is not a PEFT adapter directory (no adapter_config.json)")
    version, tensors = read_adapter_dir(path)
    await engine.load_adapter(max(version, 0), tensors, json.loads((path / "adapter_config.json").read_text()))


async def _searches(strategy: str, questions, ctx, opts, temperature: float, seed: int, limit: int):
    from rlsys.search.strategies import get_strategy

    run, gate = get_strategy(strategy), asyncio.Semaphore(limit)

    async def one(q):
        async with gate:
            return await run(q, ctx, opts, temperature, seed)

    return list(await asyncio.gather(*(one(q) for q in questions)))


def _row(correct: list[int], tokens: list[int], cells: list[int], single: list[int], resamples: int) -> dict[str, Any]:
    from rlsys.report.bootstrap import paired_bootstrap

    if len(correct) != len(single) or not correct:
        raise ValueError(f"a search row needs one score per question for both methods, got {len(correct)} and {len(single)}")
    n = len(correct)
    # paired by question index: mean of (this method - single sample)
    change = paired_bootstrap({i: float(c) for i, c in enumerate(single)}, {i: float(c) for i, c in enumerate(correct)},
                              resamples=resamples)
    return {"accuracy": sum(correct) / n, "generated_tokens_per_question": sum(tokens) / n,
            "sandbox_cells_per_question": sum(cells) / n, "vs_single_points": 100 * change["diff"],
            "vs_single_ci95_points": [100 * change["low"], 100 * change["high"]]}


async def _policy(cfg, args, adapter: str | None, questions, full: bool) -> dict[str, Any]:
    """Samples (and, when `full`, best-of-N and beam) of one policy on `questions`."""
    from rlsys.corpus.service import CorpusService
    from rlsys.judge.factory import build_judge
    from rlsys.judge.search_recovery import recovery_metrics
    from rlsys.rollout.engines import build_engine, lora_settings
    from rlsys.rollout.episode import EpisodeLimits
    from rlsys.sandbox.pool import SandboxPool
    from rlsys.search.best_of_n import generated_tokens, pick, sandbox_cells
    from rlsys.search.strategies import SearchContext, SearchOptions

    lora = cfg.learner.lora
    engine, tokenizer = build_engine(cfg.model, cfg.rollout, lora_settings(lora.r, lora.alpha, lora.target_modules))
    await _load_adapter(engine, adapter)
    corpus = await asyncio.to_thread(CorpusService.from_config, cfg.corpus)
    pool = await SandboxPool(cfg.sandbox, corpus.call_tool).start()
    judge = build_judge(cfg.judge)
    widths = sorted(set(args.n))
    temperature = cfg.rollout.temperature_min
    limit = max(1, cfg.rollout.concurrency // max(widths))
    out: dict[str, Any] = {"adapter": adapter}
    try:
        ctx = SearchContext(engine, tokenizer, pool, EpisodeLimits.from_config(cfg.rollout, cfg.sandbox.cell_timeout_s))
        started = time.perf_counter()
        sampled = await _searches("best-of-n", questions, ctx, SearchOptions(width=widths[-1], scorer=args.scorer),
                                  temperature, args.seed, limit)
        verdicts = [await judge.score(s.candidates) for s in sampled]
        out["samples_s"] = time.perf_counter() - started
        single = [int(v[0].correct) for v in verdicts]
        toks = [[generated_tokens(t) for t in s.candidates] for s in sampled]
        cells = [[sandbox_cells(t) for t in s.candidates] for s in sampled]
        pairs = [(t, v) for s, vs in zip(sampled, verdicts) for t, v in zip(s.candidates, vs)]
        out["recovery"] = {**recovery_metrics(pairs), "episodes": len(pairs)}
        methods: dict[str, Any] = {"single": _row(single, [t[0] for t in toks], [c[0] for c in cells], single,
                                                  args.resamples)}
        if full:
            for n in widths:
                picks = [pick(s.candidates[:n], args.scorer) for s in sampled]
                methods[f"best-of-{n}"] = _row([int(v[i].correct) for v, i in zip(verdicts, picks)],
                                               [sum(t[:n]) for t in toks], [sum(c[:n]) for c in cells], single,
                                               args.resamples)
            for n in widths:
                started = time.perf_counter()
                beams = await _searches("beam", questions, ctx, SearchOptions(width=n, depth=args.depth,
                                                                              scorer=args.scorer),
                                        temperature, args.seed, limit)
                beam_verdicts = [(await judge.score([b.trajectory]))[0] for b in beams]
                methods[f"beam-{n}"] = {**_row([int(v.correct) for v in beam_verdicts],
                                               [b.budget["generated_tokens"] for b in beams],
                                               [b.budget["sandbox_cells"] for b in beams], single, args.resamples),
                                        "replayed_cells_per_question": sum(b.budget["replayed_cells"]
                                                                           for b in beams) / len(beams),
                                        "seconds": time.perf_counter() - started}
        out["methods"] = methods
    finally:
        await pool.shutdown()
        close = getattr(engine, "close", None)
        if close is not None:
            await close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from rlsys.config import config_from_args
    from rlsys.controller.questions import load_questions

    cfg = config_from_args(args)
    if min(args.n) < 1 or args.depth < 0 or args.questions < 1:
        raise SystemExit("rlsys bench search: --n and --questions must be >= 1, --depth >= 0")
    if cfg.judge.kind == "llm":
        raise SystemExit("rlsys bench search: judge.kind=llm needs a judge engine; use rule or http")
    questions = load_questions(cfg)[1][: args.questions]
    main = asyncio.run(_policy(cfg, args, args.adapter, questions, full=True))
    figures: dict[str, Any] = {"questions": len(questions), "split": "test", "temperature": cfg.rollout.temperature_min,
                               "depth": args.depth, "scorer": args.scorer, "model": cfg.model.path, **main}
    best = max((m["vs_single_points"] for k, m in main["methods"].items() if k != "single"), default=0.0)
    figures["target_plus_10_points"] = best >= 10.0
    if args.compare_adapter:
        other = asyncio.run(_policy(cfg, args, args.compare_adapter, questions, full=False))
        figures["compare"] = {"adapter": args.compare_adapter, "recovery": other["recovery"],
                              "single": other["methods"]["single"]}
        rate, base = main["recovery"]["search_recovery_rate"], other["recovery"]["search_recovery_rate"]
        figures["recovery_rate_ratio"] = rate / base if base else None
    return figures
