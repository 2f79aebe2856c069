"""The offline demo: the whole method end to end on a CPU, with no GPU and no model hub.

    rlsys demo [--config configs/tiny-cpu.yaml] [--set ...] [--run-dir runs/demo]

Stages (each says what it did; finished stages are reused when the run dir is kept):
  1. corpus   — the synthetic corpus of fictional entities and its LanceDB index
  2. model    — the tiny Qwen3-architecture base model and its tokenizer, built locally
  3. expert   — scripted-expert trajectories run through the real sandbox and corpus service
  4. sft      — LoRA SFT on those trajectories (loss on assistant tokens only)
  5. grpo     — GRPO through Ray actors, starting from the SFT adapter; eval of base, SFT, SFT+RL
  6. report   — report.md (base / SFT / SFT+RL table) and PNG curves in the run dir
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path

from rich.console import Console

from rlsys.config import Config

console = Console(stderr=True)
log = logging.getLogger("rlsys.demo")


def _stage(name: str, text: str) -> float:
    console.rule(f"[bold]{name}[/bold] — {text}")
    return time.perf_counter()


STAGE_TIMES = "demo_stages.json"  # in the run dir: wall seconds per stage (read by `rlsys bench learning`)


def _done(start: float, text: str, times: dict[str, float] | None = None, name: str | None = None) -> None:
    seconds = time.perf_counter() - start
    if times is not None and name:
        times[name] = round(seconds, 2)
    console.print(f"[green]✓[/green] {text} ({seconds:.0f} s)")


def build_corpus(cfg: Config) -> Path:
    from rlsys.corpus.index import ensure_index

    return ensure_index(cfg.corpus, progress=True)


def build_model(cfg: Config) -> Path:
    from rlsys.base_model import ensure_base_model
    from rlsys.progress import make_progress

    with make_progress() as progress:
        steps = cfg.model.pretrain_copy_steps + cfg.model.pretrain_steps
        task = progress.add_task("base-model pretraining", total=max(1, steps), status="")
        return ensure_base_model(
            cfg, on_step=lambda step, loss: progress.update(task, completed=step, status=f"loss {loss:.3f}")
        )


def expert_trajectories(cfg: Config, out_dir: Path) -> dict:
    """Runs the scripted expert on training questions through a local sandbox pool."""
    from rlsys.corpus.loaders import load_questions
    from rlsys.corpus.service import CorpusService
    from rlsys.progress import make_progress
    from rlsys.sandbox.pool import SandboxPool
    from rlsys.scripted_expert import generate_expert_trajectories, write_reference_format

    manifest = out_dir / "manifest.json"
    if manifest.is_file():
        kept = len(json.loads(manifest.read_text()))
        return {"kept": kept, "reused": True}
    questions = [q for q in load_questions(cfg.corpus) if q.split == "train"][: cfg.sft.expert_questions]
    corpus = CorpusService.from_config(cfg.corpus)

    async def go():
        async with SandboxPool(cfg.sandbox, corpus.call_tool) as pool:
            with make_progress() as progress:
                task = progress.add_task("expert episodes", total=len(questions), status="")
                return await generate_expert_trajectories(
                    questions, pool, max_turns=cfg.rollout.max_turns, concurrency=cfg.sandbox.containers_per_worker,
                    progress=lambda: progress.advance(task), prompt_style=cfg.rollout.system_prompt, corpus=corpus,
                    question_variable=cfg.rollout.question_variable, recovery_share=cfg.sft.recovery_share,
                )

    episodes = asyncio.run(go())
    kept = write_reference_format(episodes, out_dir)
    reasons: dict[str, int] = {}
    for e in episodes:
        if not e.kept:
            reasons[e.reason.split(":")[0]] = reasons.get(e.reason.split(":")[0], 0) + 1
    recovery = sum(e.kept and e.recovery is not None for e in episodes)
    return {"kept": kept, "dropped": len(episodes) - kept, "dropped_reasons": reasons, "recovery_kept": recovery}


def run_sft(cfg_path: str | None, overrides: list[str], data_dir: Path, out_dir: Path) -> None:
    """The SFT stage with the demo's config (`cfg_path` + `overrides`), unless its adapter exists."""
    from rlsys.config import DEFAULT_PRESET, load_config
    from rlsys.sft_stage import run_sft as train_sft

    if (out_dir / "adapter" / "adapter_config.json").is_file():
        console.print(f"SFT adapter already at {out_dir / 'adapter'}; reusing it")
        return
    code = train_sft(load_config(cfg_path or DEFAULT_PRESET, overrides), data=str(data_dir), out=out_dir)
    if code != 0:
        raise RuntimeError(f"SFT failed (exit code {code}); see the messages above")


def run_demo(cfg: Config, cfg_path: str | None, overrides: list[str], run_dir: Path) -> Path:
    from rlsys.report.markdown import write_report
    from rlsys.train import Controller

    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # stages 2-4 train in this process before any actor exists: let torch use every core
    # (OMP_NUM_THREADS=1 is meant for the many actors sharing the cores in stage 5)
    import torch

    times: dict[str, float] = {}
    actor_threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)

    t = _stage("1/6 corpus", f"{cfg.corpus.source} corpus and its LanceDB index")
    index = build_corpus(cfg)
    _done(t, f"index at {index}", times, "corpus")

    t = _stage("2/6 model", "tiny Qwen3-architecture base model (the shipped one, or built and pretrained here)")
    model = build_model(cfg)
    _done(t, f"model at {model}", times, "model")

    t = _stage("3/6 expert", "scripted-expert trajectories through the sandbox")
    expert = expert_trajectories(cfg, run_dir / "sft_data")
    _done(t, f"expert trajectories: {expert}", times, "expert")

    t = _stage("4/6 sft", "LoRA SFT on the expert trajectories")
    run_sft(cfg_path, overrides, run_dir / "sft_data", run_dir / "sft")
    _done(t, f"SFT adapter at {run_dir / 'sft' / 'adapter'}", times, "sft")

    torch.set_num_threads(actor_threads)
    t = _stage("5/6 grpo", "GRPO through Ray, with eval of base, SFT and SFT+RL")
    controller = Controller(cfg, run_dir, init_adapter=str(run_dir / "sft" / "adapter"))
    try:
        controller.setup(push=False)
        times["actors_start"] = round(time.perf_counter() - t, 2)
        e = time.perf_counter()
        base = controller.evaluate(stage="base", step=0)
        controller.push_adapter()
        sft = controller.evaluate(stage="sft", step=0)
        times["eval_base_sft"] = round(time.perf_counter() - e, 2)
        e = time.perf_counter()
        controller.run()  # with train.eval_every, the held-out curve's points are evaluated in here
        times["grpo"] = round(time.perf_counter() - e, 2)
        e = time.perf_counter()
        final = controller.evaluate(stage="rl", step=controller.step)
        times["eval_rl"] = round(time.perf_counter() - e, 2)
    finally:
        controller.close()
    _done(t, f"accuracy base {base['accuracy']:.3f} -> SFT {sft['accuracy']:.3f} -> SFT+RL {final['accuracy']:.3f}",
          times, "grpo_stage")

    t = _stage("6/6 report", "markdown table and plots")
    report = write_report(run_dir)
    _done(t, f"report at {report}", times, "report")
    times["total"] = round(time.perf_counter() - started, 2)
    (run_dir / STAGE_TIMES).write_text(json.dumps(times, indent=1) + "\n")
    console.print(f"[bold]demo finished in {time.perf_counter() - started:.0f} s[/bold]; run dir: {run_dir}")
    return report
