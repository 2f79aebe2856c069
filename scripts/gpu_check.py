"""The GPU check (`scripts/gpu-check.sh`): what a first GPU machine must tell us, as one JSON.

For a lent machine with torch, transformers and peft only (no vLLM, no Ray, nothing installed;
rlsys is imported from this checkout). At Qwen3-4B's shape with random init (no weights):
- the learner's GRPO step (24 x 2,048 tokens, bf16, LoRA r=16, checkpointing): step time,
  tokens/s and peak memory with the chunked vocabulary projection on (1,024) and off;
- the process capped to 24 GiB (`set_per_process_memory_fraction`) to emulate the 24 GB card:
  the learner's peak against `memory_plan`'s prediction of the learn phase;
- the HF engine's generation at that shape (24 sequences, 128 new tokens): tokens/s, peak memory;
- the collocated 24 GB preset, briefly (still capped to 24 GiB): the settings the memory plan
  decides for it, and one step of its phases with the learner and an HF engine sharing the card
  (generate -> engine asleep -> learn -> cache released -> engine awake -> generate): peak memory
  per phase against the plan, sleep and wake seconds (`phase_switch_s`).
Each part has its own try: a failure (an OOM included) is recorded and the rest still runs.
`--shape tiny` runs the same plumbing on CPU in seconds (to check the script, not to measure).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 2**30


def _env() -> dict[str, Any]:
    import peft
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
            "peft": peft.__version__, "device": torch.cuda.get_device_name() if cuda else "cpu",
            "gpu_total_gib": round(torch.cuda.get_device_properties(0).total_memory / GIB, 2) if cuda else None}


def _learner(shape: str, chunk: int, trajectories: int, tokens: int, repeats: int) -> dict[str, Any]:
    import statistics

    import torch

    from rlsys.bench.learner import SHAPES, _base_model, _groups, _time_steps
    from rlsys.learner.config import LearnerConfig, LoraConfig
    from rlsys.learner.learner import Learner

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    cfg = LearnerConfig(lora=LoraConfig(r=16, alpha=32), lr=1e-5, micro_batch=1, gradient_checkpointing=cuda,
                        max_tokens=max(tokens, 8192), logits_chunk_tokens=chunk)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    learner = Learner(cfg, base_model=_base_model(shape, device, dtype), pad_id=0, device=device)
    times = _time_steps(learner, _groups(trajectories, tokens, SHAPES[shape][0]), repeats, cuda)
    step_s = statistics.median(times)
    peak = torch.cuda.max_memory_allocated() / GIB if cuda else None
    del learner
    return {"logits_chunk_tokens": chunk, "step_s": step_s, "step_s_all": times,
            "tokens_per_s": trajectories * tokens / step_s, "peak_allocated_gib": peak}


def _plan(chunk: int) -> dict[str, Any]:
    from rlsys.config import load_config
    from rlsys.memory_plan import PlanOptions, plan_memory

    cfg = load_config("configs/qwen3-4b-24gb.yaml", [f"learner.logits_chunk_tokens={chunk}"])
    plan = plan_memory(cfg, 24.0, PlanOptions(logits_chunk_tokens=chunk or None))
    learn = next(p for p in plan.phases if p.name == "learn")
    own = [i for i in learn.items if "engine" not in i.name and "context" not in i.name]
    return {"learn_phase_gib": learn.total / GIB, "learner_items_gib": sum(i.nbytes for i in own) / GIB,
            "items": {i.name: round(i.nbytes / GIB, 3) for i in learn.items}}


_MODEL_DIRS: dict[str, Path] = {}


def _model_dir(shape: str) -> Path:
    """A random-init model of `shape` saved once (with a tiny tokenizer) for the engine parts."""
    import torch

    from rlsys.bench.learner import _base_model
    from rlsys.rollout.tiny_model import build_tiny_model, default_texts

    if shape not in _MODEL_DIRS:
        tmp = Path(tempfile.mkdtemp(prefix="gpu-check-model-"))
        tok_dir = build_tiny_model(tmp / "tok", default_texts(20), size="nano")  # a tokenizer + template
        model = _base_model(shape, torch.device("cpu"), torch.bfloat16 if torch.cuda.is_available() else torch.float32)
        model.save_pretrained(tmp / "model")
        for f in Path(tok_dir).iterdir():
            if "token" in f.name or f.name.endswith(".jinja"):
                (tmp / "model" / f.name).write_bytes(f.read_bytes())
        del model
        _MODEL_DIRS[shape] = tmp / "model"
    return _MODEL_DIRS[shape]


async def _generate(engine, seqs: int, new_tokens: int) -> tuple[float, int]:
    from rlsys.rollout.types import SamplingParams

    prompt = list(range(10, 210))
    t0 = time.perf_counter()
    gens = await asyncio.gather(*(engine.generate(prompt, SamplingParams(max_new_tokens=new_tokens, seed=i))
                                  for i in range(seqs)))
    return time.perf_counter() - t0, sum(len(g.token_ids) for g in gens)


def _engine(shape: str, seqs: int, new_tokens: int) -> dict[str, Any]:
    import torch

    from rlsys.rollout.hf_engine import HFEngine

    cuda = torch.cuda.is_available()
    model_dir = _model_dir(shape)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    engine = HFEngine(model_dir, max_batch=seqs)
    asyncio.run(_generate(engine, seqs, new_tokens))  # warm-up
    wall, generated = asyncio.run(_generate(engine, seqs, new_tokens))
    asyncio.run(engine.close())
    return {"sequences": seqs, "new_tokens": new_tokens, "wall_s": wall, "tokens_per_s": generated / wall,
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB if cuda else None}


def _collocated(shape: str, seqs: int, new_tokens: int, trajectories: int, tokens: int) -> dict[str, Any]:
    """The collocated 24 GB preset, briefly, in one process (no vLLM, no Ray here): the settings
    the memory plan decides for `configs/qwen3-4b-24gb.yaml`, then one step of its phases with
    the learner and an HF engine of the policy's shape sharing the (capped) card: generate
    (engine awake, learner resident) -> engine asleep (weights to host) -> learn (one GRPO step)
    -> learner releases its cache -> engine wakes -> generate. Peak memory of each phase against
    the plan's phase totals, and the sleep / wake seconds (`phase_switch_s`)."""
    import gc

    import torch

    from rlsys.bench.learner import SHAPES, _base_model, _groups
    from rlsys.config import load_config
    from rlsys.learner.config import LearnerConfig, LoraConfig
    from rlsys.learner.learner import Learner
    from rlsys.memory_plan.settings import plan_collocated
    from rlsys.rollout.hf_engine import HFEngine

    cfg = load_config("configs/qwen3-4b-24gb.yaml", [])
    plan, settings, changes = plan_collocated(cfg, 24.0)
    out: dict[str, Any] = {"plan_changes": changes, "plan_phase_gib": {p.name: round(p.total / GIB, 2) for p in plan.phases},
                           "rollout_gpu_memory_utilization": settings.rollout_gpu_memory_utilization,
                           "rollout_kv_cache_gib": round(settings.rollout_kv_cache_bytes / GIB, 3)}
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32

    def peak(name: str) -> None:
        if cuda:
            torch.cuda.synchronize()
            out[f"{name}_peak_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
            out[f"{name}_end_gib"] = round(torch.cuda.memory_allocated() / GIB, 3)
            torch.cuda.reset_peak_memory_stats()

    model_dir = _model_dir(shape)
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    lcfg = LearnerConfig(lora=LoraConfig(r=16, alpha=32), lr=1e-5, micro_batch=1, gradient_checkpointing=cuda,
                         max_tokens=max(tokens, 8192), logits_chunk_tokens=1024)
    learner = Learner(lcfg, base_model=_base_model(shape, device, dtype), pad_id=0, device=device)
    engine = HFEngine(model_dir, max_batch=seqs)
    peak("setup")
    out["generate_s"], out["generated_tokens"] = asyncio.run(_generate(engine, seqs, new_tokens))
    peak("generate")
    asyncio.run(engine.sleep())
    out["sleep_s"] = engine.sleep_s
    t0 = time.perf_counter()
    metrics = learner.grpo_step(_groups(trajectories, tokens, SHAPES[shape][0]), policy_version=0)
    out["learn_s"], out["learn_trained"] = time.perf_counter() - t0, metrics.get("trained_trajectories")
    peak("learn")
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()  # the learner's release before the engine wakes
    asyncio.run(engine.wake())
    out["wake_s"] = engine.wake_s
    out["phase_switch_s"] = out["sleep_s"] + out["wake_s"]
    out["generate_again_s"], _ = asyncio.run(_generate(engine, seqs, new_tokens))
    peak("generate_again")
    asyncio.run(engine.close())
    del learner, engine
    gc.collect()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="qwen3-4b", choices=["qwen3-4b", "tiny"])
    parser.add_argument("--out", default="gpu-check.json")
    args = parser.parse_args()
    import torch

    big = args.shape == "qwen3-4b"
    trajectories, tokens, repeats = (24, 2048, 2) if big else (4, 128, 1)
    result: dict[str, Any] = {"shape": args.shape}

    def part(name: str, fn, *a) -> None:
        t0 = time.perf_counter()
        try:
            result[name] = fn(*a)
        except Exception as err:  # noqa: BLE001 - an OOM or a missing piece is a finding, not the end
            result[name] = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-2000:]}
        result[name]["part_s"] = round(time.perf_counter() - t0, 1)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str))
        print(f"[gpu-check] {name}: {json.dumps(result[name], default=str)[:400]}", flush=True)

    part("env", _env)
    part("learner_chunked", _learner, args.shape, 1024, trajectories, tokens, repeats)
    part("learner_full_logits", _learner, args.shape, 0, trajectories, tokens, repeats)
    part("plan_chunked", _plan, 1024)
    part("plan_full_logits", _plan, 0)
    if torch.cuda.is_available():  # emulate the 24 GB card for the learner
        torch.cuda.set_per_process_memory_fraction(min(1.0, 24 * GIB / torch.cuda.get_device_properties(0).total_memory))
        part("learner_chunked_24gib", _learner, args.shape, 1024, trajectories, tokens, repeats)
    part("hf_engine", _engine, args.shape, 24 if big else 4, 128 if big else 8)
    part("collocated_24gib", _collocated, args.shape, 8 if big else 2, 64 if big else 8, 8 if big else 2,
         1024 if big else 64)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
