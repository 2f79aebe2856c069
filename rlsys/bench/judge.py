"""`rlsys bench judge`: verdicts per second of the rule judge (short answers, and sentence-length
answers of 15-35 words, the way most models answer), of an LLM judge on the tiny model
through the HF engine, and of the same model behind `rlsys serve` (HTTP), for one batch
(default 24, a GRPO group). Each figure is the median over repeats after one warm-up; the
engine and HTTP batches alternate, so the ratio between them is taken side by side.

The tiny model's replies never parse, so model judges run with `parse_retries=0`: one
request per verdict, `max_new_tokens` generated (a real judge retries only on bad replies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

HELP = "verdicts/s of the rule judge (short and sentence answers), an LLM judge on the tiny model, and the same model over rlsys serve"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--batch", type=int, default=24, help="trajectories per batch (default 24)")
    parser.add_argument("--rule-repeats", type=int, default=30, help="timed rule-judge batches (default 30)")
    parser.add_argument("--llm-repeats", type=int, default=3, help="timed batches of each model judge (default 3)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="judge reply tokens (default 32)")
    parser.add_argument("--model", default=None, help="judge model directory (default: model.path, tiny model built if missing)")
    parser.add_argument("--skip-http", action="store_true", help="leave out the rlsys serve measurement")


SENTENCE_ANSWERS = [
    "According to the article I read, the answer is {gold}, which the relevant section states right after the background.",
    "After searching the corpus twice, I found that it was {gold}, as the page on this topic says in its history section.",
    "The infobox does not list it, but the career section names {gold}; the second search result confirms the same thing.",
    "It might be {gold} or {other}, though I could not confirm either of them from the pages that the search returned.",
    "Based on the search results, the page clearly states {other}, and the section on the early years says the same.",
    "{gold}. No, actually, reading the section again, it was {other}, as the second paragraph of the article explains.",
]


def bench_batch(n: int, seed: int = 0, sentences: bool = False) -> list[Any]:
    """`n` realistic trajectories: real trivia questions where available, two search cells each
    with page-sized outputs, and a mix of right, reworded, wrong and given-up answers
    (`sentences`: answers of 15-35 words that embed, hedge or contradict the gold)."""
    import random

    from rlsys.corpus.types import Question
    from rlsys.paths import shared_data_dir
    from rlsys.rollout.types import EndReason, Trajectory, Turn
    from rlsys.sandbox.types import ExecResult

    rng = random.Random(seed)
    path = shared_data_dir() / "wiki-trivia-v4" / "questions.jsonl"
    if path.is_file():
        rows = [json.loads(line) for line in path.open()][:200]
    else:
        rows = [{"question": f"What is the capital of Fictland {i}?", "answer": f"Port Vell {i}"} for i in range(200)]
    out = []
    for i in range(n):
        row = rows[rng.randrange(len(rows))]
        gold = row["answer"]
        answer = [gold, gold.lower() + ".", "Unknown", "Springfield", f"The answer is {gold}"][i % 5]
        if sentences:
            other = rows[rng.randrange(len(rows))]["answer"]
            answer = SENTENCE_ANSWERS[i % len(SENTENCE_ANSWERS)].format(gold=gold, other=other)
        page = f"# {row['question'][:40]}\n" + "Background text of the page. " * 40 + f"\nThe answer: {gold}.\n"
        cell = f"hits = search_pages({row['question'][:50]!r})\nfor h in hits[:3]:\n    print(h['title'])\nprint(read_section(hits[0]['page_id'] + ':full'))"
        turns = [
            Turn(f"<python>{cell}</python>", cell, ExecResult(stdout=page[:1500], tool_calls=2, tool_outputs=[page])),
            Turn(f"<answer>{answer}</answer>"),
        ]
        q = Question(id=str(i), question=row["question"], answer=gold)
        out.append(Trajectory(f"b{i}", q, [1], [0], [0.0], 1, turns=turns, answer=answer, end_reason=EndReason.ANSWERED))
    return out


async def _median_times(label: str, repeats: int, runs: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Median seconds per batch of each run, after one untimed warm-up each. The runs are
    interleaved (A B A B ...), so load on a shared machine affects all of them alike."""
    from rich.progress import Progress

    for once in runs.values():
        await once()
    times: dict[str, list[float]] = {name: [] for name in runs}
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=repeats * len(runs))
        for _ in range(repeats):
            for name, once in runs.items():
                start = time.perf_counter()
                await once()
                times[name].append(time.perf_counter() - start)
                progress.advance(task)
    return {name: statistics.median(values) for name, values in times.items()}


def _start_server(model: str, max_new_tokens: int, batch: int) -> tuple[subprocess.Popen, str]:
    ready = Path(tempfile.mkdtemp(prefix="rlsys-bench-serve-")) / "ready.json"
    cmd = [sys.executable, "-m", "rlsys", "serve", "--model", model, "--port", "0", "--served-model-name", "judge",
           "--max-tokens", str(max_new_tokens), "--max-batch", str(batch), "--ready-file", str(ready)]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"rlsys serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("rlsys serve did not start within 180 s")
        time.sleep(0.2)
    return proc, json.loads(ready.read_text())["url"]


def _stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from rlsys.rollout.engines import load_engine
    from rlsys.config import config_from_args
    from rlsys.judge.http_judge import HTTPJudge
    from rlsys.judge.llm_judge import LLMJudge
    from rlsys.judge.normalization import clear_cache
    from rlsys.judge.rule_judge import RuleJudge

    cfg = config_from_args(args)
    if args.model is None:
        from rlsys.rollout.tiny_model import ensure_model

        model = str(ensure_model(cfg.model))
    else:
        model = args.model
    batch = bench_batch(args.batch)
    figures: dict[str, Any] = {"batch": args.batch, "model": model, "max_new_tokens": args.max_new_tokens}

    rule = RuleJudge(cfg.judge)

    def cold(trajectories):  # normalisations are cached: each timed batch starts without them
        clear_cache()
        return rule.score(trajectories)

    median = (await _median_times("rule judge", args.rule_repeats, {"rule": lambda: cold(batch)}))["rule"]
    figures.update(rule_verdicts_per_s=round(len(batch) / median, 1), rule_batch_s=round(median, 4))
    print(f"rule judge: {figures['rule_verdicts_per_s']} verdicts/s", file=sys.stderr)
    sentence_batch = bench_batch(args.batch, sentences=True)
    median = (await _median_times("rule judge, sentence answers", args.rule_repeats,
                                  {"rule": lambda: cold(sentence_batch)}))["rule"]
    figures.update(rule_sentence_verdicts_per_s=round(len(sentence_batch) / median, 1),
                   rule_sentence_batch_s=round(median, 4),
                   sentence_answer_words_mean=round(statistics.mean(len(t.answer.split()) for t in sentence_batch), 1))
    print(f"rule judge, sentence answers: {figures['rule_sentence_verdicts_per_s']} verdicts/s", file=sys.stderr)

    judge_cfg = cfg.judge.model_copy(update={"kind": "llm", "max_new_tokens": args.max_new_tokens,
                                             "parse_retries": 0, "batch_size": args.batch})
    engine, tokenizer = load_engine(model, "hf", dtype=cfg.model.dtype, max_batch=args.batch)
    llm = LLMJudge(engine, tokenizer, judge_cfg)
    runs: dict[str, Callable[[], Awaitable[Any]]] = {"llm": lambda: llm.score(batch)}
    figures["prompt_tokens_mean"] = round(statistics.mean(len(llm.encode(llm.messages_for(t))) for t in batch))
    proc = http = None
    try:
        if not args.skip_http:
            proc, url = _start_server(model, args.max_new_tokens, args.batch)
            http = HTTPJudge(judge_cfg.model_copy(update={"kind": "http", "base_url": url + "/v1", "model": "judge",
                                                          "http_concurrency": args.batch, "http_timeout_s": 600.0}))
            runs["http"] = lambda: http.score(batch)
        medians = await _median_times("LLM judge: engine / rlsys serve", args.llm_repeats, runs)
    finally:
        if proc is not None:
            _stop_server(proc)
        await engine.close()
    if http is not None and http.stats["request_errors"]:
        raise RuntimeError(f"{http.stats['request_errors']} HTTP judge requests failed")
    figures.update(llm_verdicts_per_s=round(len(batch) / medians["llm"], 2), llm_batch_s=round(medians["llm"], 3))
    stats = getattr(engine, "stats", None)
    steps = getattr(stats, "steps", 0) or getattr(stats, "batches", 0)  # mean rows per decode step
    if stats is not None and steps:
        figures["llm_engine_mean_batch_rows"] = round(stats.batch_rows / steps, 1)
    print(f"LLM judge through the engine: {figures['llm_verdicts_per_s']} verdicts/s", file=sys.stderr)
    if "http" in medians:
        figures.update(http_verdicts_per_s=round(len(batch) / medians["http"], 2), http_batch_s=round(medians["http"], 3),
                       http_vs_llm_ratio=round(medians["llm"] / medians["http"], 3))
        print(f"LLM judge through rlsys serve: {figures['http_verdicts_per_s']} verdicts/s", file=sys.stderr)
    figures["rule_vs_llm_ratio"] = round(medians["llm"] / figures["rule_batch_s"], 1)
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.getLogger("rlsys.judge").setLevel(logging.ERROR)  # the tiny model's replies never parse
    if args.batch < 1:
        raise SystemExit("rlsys bench judge: --batch must be >= 1")
    return asyncio.run(_run(args))
