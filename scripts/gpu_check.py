"""The GPU check (`scripts/gpu-check.sh`): what a first GPU machine must tell us, as one JSON.

For a lent machine with torch, transformers and peft only (no vLLM, no Ray, nothing installed;
rlsys is imported from this checkout). At Qwen3-4B's shape with random init (no weights):
- the learner's GRPO step (24 x 2,048 tokens, bf16, LoRA r=16, checkpointing): step time,
  tokens/s and peak memory with the chunked vocabulary projection on (1,024) and off;
- the process capped to 24 GiB (`set_per_process_memory_fraction`) to emulate the 24 GB card:
  the learner's peak against `memory_plan`'s prediction of the learn phase;
- the HF engine's generation at that shape (24 sequences, 128 new tokens): tokens/s, peak memory.
Each part has its own try: a failure (an OOM included) is recorded and the rest still runs.
`--shape tiny` runs the same plumbing on CPU in seconds (to check the script, not to measure).
"""

from __future__ import annotations

import argparse
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


def _engine(shape: str, seqs: int, new_tokens: int) -> dict[str, Any]:
    import asyncio

    import torch

    from rlsys.bench.learner import _base_model
    from rlsys.rollout.hf_engine import HFEngine
    from rlsys.rollout.tiny_model import build_tiny_model, default_texts
    from rlsys.rollout.types import SamplingParams

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = build_tiny_model(Path(tmp) / "tok", default_texts(20), size="nano")  # a tokenizer + template
        model = _base_model(shape, torch.device("cpu"), torch.bfloat16 if cuda else torch.float32)
        model.save_pretrained(Path(tmp) / "model")
        for f in Path(tok_dir).iterdir():
            if "token" in f.name or f.name.endswith(".jinja"):
                (Path(tmp) / "model" / f.name).write_bytes(f.read_bytes())
        del model
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        engine = HFEngine(Path(tmp) / "model", max_batch=seqs)
        prompt = list(range(10, 210))

        async def go() -> tuple[float, int]:
            t0 = time.perf_counter()
            gens = await asyncio.gather(*(engine.generate(prompt, SamplingParams(max_new_tokens=new_tokens, seed=i))
                                          for i in range(seqs)))
            return time.perf_counter() - t0, sum(len(g.token_ids) for g in gens)

        asyncio.run(go())  # warm-up
        wall, generated = asyncio.run(go())
        asyncio.run(engine.close())
    return {"sequences": seqs, "new_tokens": new_tokens, "wall_s": wall, "tokens_per_s": generated / wall,
            "peak_allocated_gib": torch.cuda.max_memory_allocated() / GIB if cuda else None}


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
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
