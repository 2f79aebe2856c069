"""VLLMEngine on a GPU with vLLM installed (skipped elsewhere): token-exact generations whose
log-probs match a forward pass, and adapter versions with eviction."""

from __future__ import annotations

import asyncio

import pytest
import torch

from rlsys.rollout.episode import prompt_ids
from rlsys.rollout.types import SamplingParams

from .biased_model import merge_lora, random_lora, reference_logprobs

pytestmark = pytest.mark.gpu


async def test_vllm_generation_logprobs_and_adapters(tiny_model_dir):
    pytest.importorskip("vllm")
    from transformers import AutoModelForCausalLM

    from rlsys.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(tiny_model_dir, dtype="float32", max_batch=16, lora_config={"lora_alpha": 8},
                        max_loras=2, max_lora_rank=8, max_model_len=2048, gpu_memory_utilization=0.3,
                        enable_sleep_mode=False)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    prompt = prompt_ids(engine.tokenizer, "Where was Ostrid Kael born?", 2)
    params = [SamplingParams(temperature=0.8, max_new_tokens=24, stop=["</python>"], seed=i) for i in range(8)]
    gens = await asyncio.gather(*(engine.generate(prompt, p) for p in params))
    for g in gens:
        ref = reference_logprobs(reference, prompt + g.token_ids, 0.8)[len(prompt):]
        assert max(abs(a - b) for a, b in zip(ref, g.logprobs)) < 1e-2
    tensors = {v: random_lora(reference, r=4, seed=v) for v in (1, 2, 3)}
    for version, t in tensors.items():
        await engine.load_adapter(version, t)
    assert list(engine._loras) == [2, 3]  # version 1 evicted (max_loras = 2)
    gen = await engine.generate(prompt, SamplingParams(temperature=1.0, max_new_tokens=16, seed=0))
    assert gen.policy_version == 3
    merge_lora(reference, tensors[3], alpha=8)
    ref = reference_logprobs(reference, prompt + gen.token_ids, 1.0)[len(prompt):]
    assert max(abs(a - b) for a, b in zip(ref, gen.logprobs)) < 1e-2
    await engine.close()
