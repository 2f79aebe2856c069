"""VLLMEngine on real vLLM (the CPU build in CI, the CUDA build on a GPU): token-exact
generations whose log-probs match a float32 transformers forward, the base model served so that
it never picks up another slot's adapter, adapter versions with eviction, and adapter folders that
outlive the requests of their version. One engine for the whole module (~1 min to start)."""

from __future__ import annotations

import asyncio

import pytest
import torch

from rlsys.rollout.episode import prompt_ids
from rlsys.rollout.types import SamplingParams

from .biased_model import merge_lora, random_lora, reference_logprobs
from .engine_thread import EngineThread

pytestmark = pytest.mark.vllm

ALPHA = 8
TARGETS = ["q_proj", "v_proj", "down_proj"]  # those of biased_model.random_lora
TOL = 1e-3  # measured ~2e-5 on CPU in float32


@pytest.fixture(scope="module")
def loop():
    thread = EngineThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def engine(loop, tiny_model_dir):
    from rlsys.rollout.vllm_engine import VLLMEngine

    eng = loop.build(lambda: VLLMEngine(tiny_model_dir, max_batch=16, max_loras=2, max_model_len=2048,
                                        lora_config={"r": 4, "lora_alpha": ALPHA, "target_modules": TARGETS},
                                        memory_probe=True))
    yield eng
    root = eng.adapter_root
    loop.run(eng.close())
    assert not root.exists()  # close() removes every adapter folder


@pytest.fixture(scope="module")
def reference(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def prompt(engine):
    return prompt_ids(engine.tokenizer, "Where was Ostrid Kael born?", 2)


async def _all(*coros):
    return await asyncio.gather(*coros)


def _max_error(model, prompt, gen, temperature):
    ref = reference_logprobs(model, prompt + gen.token_ids, temperature)[len(prompt):]
    return max(abs(a - b) for a, b in zip(ref, gen.logprobs))


def test_platform_settings(engine):
    from vllm.platforms import current_platform

    from rlsys.rollout.vllm_engine import vllm_lora_rank

    assert engine.can_sleep == current_platform.is_sleep_mode_available()
    if current_platform.is_cpu():
        assert engine.dtype == "float32"
    assert [vllm_lora_rank(r) for r in (1, 2, 8, 9, 16, 17, 64, 65)] == [1, 8, 8, 16, 16, 32, 64, 128]
    with pytest.raises(ValueError, match="largest"):
        vllm_lora_rank(513)


def test_lora_slots_are_what_the_memory_plan_counts(loop, engine, tiny_model_dir):
    """vLLM's LoRA buffers, summed in its worker, against the plan's count: 2 slots at rank 8
    (r=4 rounded up to a rank vLLM supports) on the packed modules the targets touch (q_proj and
    v_proj make vLLM wrap the whole qkv_proj), float32 on CPU."""
    from rlsys.memory_plan import model_shape
    from rlsys.memory_plan.vllm_sizes import lora_slot_bytes, vllm_lora_modules

    shape = model_shape(str(tiny_model_dir))
    assert vllm_lora_modules(TARGETS) == ["q_proj", "k_proj", "v_proj", "down_proj"]
    measured = loop.run(engine.lora_buffer_bytes())
    assert measured == 2 * lora_slot_bytes(shape, 4, TARGETS, 4) > 0


def test_base_generations_match_float32_forward(loop, engine, reference, prompt):
    params = [SamplingParams(temperature=0.8, max_new_tokens=24, stop=["</python>"], seed=i) for i in range(8)]
    gens = loop.run(_all(*(engine.generate(prompt, p) for p in params)))
    assert {g.policy_version for g in gens} == {0}
    assert all(g.finish_reason in ("stop", "length") and g.token_ids for g in gens)
    assert max(_max_error(reference, prompt, g, 0.8) for g in gens) < TOL
    again = loop.run(engine.generate(prompt, params[3]))
    assert again.token_ids == gens[3].token_ids  # per-request seeds reproduce


def test_adapter_versions_base_requests_and_inflight_folders(loop, engine, reference, prompt, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    tensors = {v: random_lora(reference, r=4, seed=v) for v in (1, 2, 3)}
    loop.run(engine.load_adapter(1, tensors[1]))
    assert engine.live_versions() == [0, 1]  # both slots taken: the zero adapter and v1
    # base requests batched with v1 requests while every slot is full keep the base model
    params = [SamplingParams(temperature=1.0, max_new_tokens=20, seed=10 + i) for i in range(6)]

    async def mixed():
        return await asyncio.gather(*(engine.generate(prompt, p, version=0 if i % 2 else 1)
                                      for i, p in enumerate(params)))

    gens = loop.run(mixed())
    v1_model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    merge_lora(v1_model, tensors[1], alpha=ALPHA)
    for i, g in enumerate(gens):
        assert g.policy_version == (0 if i % 2 else 1)
        assert _max_error(reference if i % 2 else v1_model, prompt, g, 1.0) < TOL

    # v1 requests queued (scheduler paused), then v2 and v3 evict v1: its folder must stay until
    # they are done, because vLLM reloads v1 from it (its CPU cache holds max_loras adapters)
    async def evict_while_in_flight():
        await engine.llm.pause_generation(mode="keep", clear_cache=False)
        tasks = [asyncio.ensure_future(engine.generate(prompt, SamplingParams(max_new_tokens=32, seed=s)))
                 for s in range(4)]
        await asyncio.sleep(0)
        assert engine._adapters.in_flight[1] == 4
        await engine.load_adapter(2, tensors[2])
        await engine.load_adapter(3, tensors[3])
        kept = (engine.live_versions(), engine._adapters.folder(1).is_dir(), engine._adapters.folder(0).is_dir())
        await engine.llm.resume_generation()
        return kept, await asyncio.gather(*tasks)

    (live, v1_kept, v0_kept), late = loop.run(evict_while_in_flight())
    assert live == [2, 3] and v1_kept and not v0_kept
    assert not engine._adapters.folder(1).exists()  # removed once its last request ended
    assert not engine.dead and {g.policy_version for g in late} == {1}
    assert max(_max_error(v1_model, prompt, g, 1.0) for g in late) < TOL
    gen = loop.run(engine.generate(prompt, SamplingParams(temperature=1.0, max_new_tokens=16, seed=0)))
    assert gen.policy_version == 3
    merge_lora(reference_v3 := AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval(),
               tensors[3], alpha=ALPHA)
    assert _max_error(reference_v3, prompt, gen, 1.0) < TOL
    sizes = [p.stat().st_size for p in engine.adapter_root.rglob("adapter_model.safetensors")]
    assert sizes and all(s > 0 for s in sizes)


def test_aborted_request_raises(loop, engine, prompt):
    from rlsys.rollout.vllm_engine import EngineRequestError

    async def aborted():
        await engine.llm.pause_generation(mode="keep", clear_cache=False)
        task = asyncio.ensure_future(engine.generate(prompt, SamplingParams(max_new_tokens=32, seed=1)))
        for _ in range(600):  # the request is registered before the abort is sent (same channel, in order)
            if engine.llm.get_num_unfinished_requests() == 1:
                break
            await asyncio.sleep(0.05)
        assert engine.llm.get_num_unfinished_requests() == 1
        await engine.llm.pause_generation(mode="abort", clear_cache=False)
        await engine.llm.resume_generation()
        return await asyncio.gather(task, return_exceptions=True)

    (result,) = loop.run(aborted())
    assert isinstance(result, EngineRequestError) and "abort" in str(result)
    assert not engine.dead


def test_failed_start_leaves_no_adapter_folder(monkeypatch, tmp_path, tiny_model_dir):
    from rlsys.rollout import vllm_adapters
    from rlsys.rollout.vllm_engine import VLLMEngine

    monkeypatch.setattr(vllm_adapters, "SHM", tmp_path)
    with pytest.raises(Exception, match="max_model_len|max_position_embeddings"):
        VLLMEngine(tiny_model_dir, max_model_len=10**7, lora_config={"r": 4, "lora_alpha": 8, "target_modules": TARGETS})
    assert list(tmp_path.iterdir()) == []


def test_engine_death_is_reported_and_remembered(loop, engine, prompt):
    """Runs last in this module: it kills the module's engine core (this process's own child)."""
    import psutil
    from vllm.v1.engine.exceptions import EngineDeadError

    from rlsys.rollout.vllm_engine import EngineRequestError

    cores = [p for p in psutil.Process().children(recursive=True) if "EngineCore" in p.name() + " ".join(p.cmdline())]
    assert cores
    for p in cores:
        p.kill()
    with pytest.raises(EngineDeadError):
        loop.run(engine.generate(prompt, SamplingParams(max_new_tokens=8, seed=0)), timeout=300)
    assert engine.dead  # the rollout worker exits on this, so that Ray restarts it
    with pytest.raises(EngineRequestError, match="dead"):
        loop.run(engine.generate(prompt, SamplingParams(max_new_tokens=8, seed=0)), timeout=60)
