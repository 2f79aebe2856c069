"""The memory plan counts what vLLM allocates: its arithmetic against vLLM 0.32's own KV-cache
sizing and LoRA rules (vLLM's classes and functions, imported from the installed build), for the
presets' shapes (Qwen3-4B, Qwen3-8B from their config.json fields; no hub, no GPU needed).

vLLM's KV sizing (v1/core/kv_cache_utils.py): bytes per block = sum over layers of the layer's
page (`AttentionSpec.page_size_bytes` = block_size * kv_heads * (head_dim + head_dim) * dtype),
blocks = available // bytes per block, a request at max_model_len takes
`FullAttentionSpec.max_memory_usage_bytes` per layer, and `check_enough_kv_cache_memory` refuses
to start unless `available - one block` (the null block) holds one such request.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rlsys.config import load_config
from rlsys.memory_plan import GIB, MemoryPlanError, PlanOptions, plan_memory
from rlsys.memory_plan.shapes import shape_from_hf_config
from rlsys.memory_plan.vllm_sizes import (
    VLLM_BLOCK_SIZE,
    kv_block_bytes,
    kv_request_bytes,
    kv_requests_held,
    lora_slot_bytes,
    vllm_lora_modules,
    vllm_lora_rank,
)

QWEN3_CONFIGS = {  # the config.json fields the plan reads, as published
    "Qwen/Qwen3-4B": {"hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
                      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                      "vocab_size": 151936, "tie_word_embeddings": True},
    "Qwen/Qwen3-8B": {"hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
                      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
                      "vocab_size": 151936, "tie_word_embeddings": False},
}
CHUNKED = PlanOptions(logits_chunk_tokens=1024)


def preset(*overrides: str):
    return load_config("configs/qwen3-4b-24gb.yaml", list(overrides))


def item(plan, phase: str, name: str) -> int:
    return next(it.nbytes for it in plan.phase(phase).items if it.name == name)


# ---- vLLM's own code (the CPU build in CI) ----------------------------------------------------


def _vllm_spec(shape):
    import torch
    from vllm.v1.kv_cache_interface import FullAttentionSpec

    return FullAttentionSpec(block_size=VLLM_BLOCK_SIZE, num_kv_heads=shape.num_kv_heads, head_size=shape.head_dim,
                             dtype=torch.bfloat16)


def _vllm_config(max_model_len: int):
    """The two fields `FullAttentionSpec.max_memory_usage_bytes` reads."""
    return SimpleNamespace(model_config=SimpleNamespace(max_model_len=max_model_len),
                           parallel_config=SimpleNamespace(decode_context_parallel_size=1))


@pytest.mark.vllm
def test_vllm_tables_the_plan_copies_are_vllms():
    from typing import get_args

    from vllm.config.cache import CacheConfig
    from vllm.config.lora import MaxLoRARanks

    from rlsys.memory_plan.vllm_sizes import PACKED_MODULES, VLLM_MAX_LORA_RANKS
    from rlsys.rollout.vllm_engine import vllm_lora_rank as engine_rank

    assert VLLM_MAX_LORA_RANKS == tuple(sorted(get_args(MaxLoRARanks)))
    assert VLLM_BLOCK_SIZE == CacheConfig.DEFAULT_BLOCK_SIZE
    from vllm.model_executor.models.qwen3 import Qwen3ForCausalLM

    assert {k: tuple(v) for k, v in Qwen3ForCausalLM.packed_modules_mapping.items()} == PACKED_MODULES
    for r in (1, 2, 8, 9, 16, 17, 33, 64, 65, 300, 321, 512):
        assert vllm_lora_rank(r) == engine_rank(r)  # the plan's rank is the one the engine asks for


@pytest.mark.vllm
@pytest.mark.parametrize("name", list(QWEN3_CONFIGS))
@pytest.mark.parametrize("max_model_len", [6144, 6150, 7168])
def test_kv_sizes_match_vllms_kv_cache_sizing(name, max_model_len):
    from vllm.v1.core.kv_cache_utils import _check_enough_kv_cache_memory, _get_kv_cache_bytes_per_block
    from vllm.v1.kv_cache_interface import KVCacheGroupSpec
    from vllm.v1.kv_cache_layout import KVCacheLayout

    shape = shape_from_hf_config(QWEN3_CONFIGS[name], name)
    spec = _vllm_spec(shape)
    layers = [f"model.layers.{i}.self_attn.attn" for i in range(shape.num_layers)]
    # per token, K and V of every layer: 2 x 36 x 8 x 128 x 2 B = 147,456 B (both shapes)
    assert spec.page_size_bytes * shape.num_layers == kv_block_bytes(shape, 2) == VLLM_BLOCK_SIZE * 147_456
    for layout in (KVCacheLayout.LBHNC, KVCacheLayout.BLHNC):  # layer-outer and block-outer pools
        assert _get_kv_cache_bytes_per_block([KVCacheGroupSpec(layers, spec)], layout) == kv_block_bytes(shape, 2)
    vcfg = _vllm_config(max_model_len)
    needed = spec.max_memory_usage_bytes(vcfg) * shape.num_layers
    assert needed == kv_request_bytes(shape, max_model_len, 2)  # whole blocks: 6150 tokens take 385 blocks

    # vLLM's refusal at start, with the null block held back as `check_enough_kv_cache_memory` does
    def starts(available: int) -> bool:
        try:
            _check_enough_kv_cache_memory(available - kv_block_bytes(shape, 2), lambda: needed, max_model_len,
                                          lambda _: 0)
        except ValueError:
            return False
        return True

    one = kv_request_bytes(shape, max_model_len, 2) + kv_block_bytes(shape, 2)
    assert starts(one) and not starts(one - 1)
    assert kv_requests_held(one, shape, max_model_len, 2) == 1
    assert kv_requests_held(one - 1, shape, max_model_len, 2) == 0
    # a pool of 4 GiB: vLLM's blocks (available // bytes per block), the null block kept back
    pool = 4 * GIB
    blocks = pool // kv_block_bytes(shape, 2)
    per_request = spec.max_memory_usage_bytes(vcfg) // spec.page_size_bytes
    assert kv_requests_held(pool, shape, max_model_len, 2) == (blocks - 1) // per_request


# ---- the plan uses these sizes -----------------------------------------------------------------


def test_plan_kv_is_whole_blocks_and_keeps_the_null_block():
    plan = plan_memory(preset(), 24, CHUNKED)
    gen = plan.phase("generate")
    shape = plan.policy
    block = kv_block_bytes(shape, 2)
    assert gen.kv_min == kv_request_bytes(shape, 6144, 2) + block == 384 * block + block
    assert plan.episodes_resident == kv_requests_held(gen.kv, shape, 6144, 2)
    odd = plan_memory(preset("rollout.max_episode_tokens=6150", "learner.max_tokens=6150"), 24, CHUNKED)
    assert odd.phase("generate").kv_min == 386 * block  # 385 blocks for 6150 tokens + the null block


def test_lora_slots_are_counted_at_vllms_rank_on_packed_modules():
    shape = shape_from_hf_config(QWEN3_CONFIGS["Qwen/Qwen3-4B"], "Qwen/Qwen3-4B")
    h, q, kv = 2560, 4096, 1024
    # r=17 is allocated at vLLM's rank 32; a q_proj target makes vLLM wrap the packed qkv_proj
    assert vllm_lora_rank(17) == 32 and vllm_lora_modules(["q_proj"]) == ["q_proj", "k_proj", "v_proj"]
    assert vllm_lora_modules(["up_proj", "o_proj"]) == ["o_proj", "gate_proj", "up_proj"]
    assert lora_slot_bytes(shape, 17, ["q_proj"], 2) == 36 * 32 * (3 * h + q + 2 * kv) * 2
    plan = plan_memory(preset("learner.lora.r=17", "learner.lora.target_modules=[q_proj]", "train.max_staleness=2"),
                       24, CHUNKED)
    assert item(plan, "generate", "rollout engine LoRA slots") == 3 * 36 * 32 * (3 * h + q + 2 * kv) * 2
    # the learner's own LoRA states stay at the configured rank and modules
    assert item(plan, "generate", "LoRA + AdamW states (fp32)") == 36 * 17 * (h + q) * 16


# ---- the rollout engine's share keys --------------------------------------------------------------


def test_rollout_memory_keys_are_applied_from_the_plan_when_null(monkeypatch):
    from rlsys.memory_plan.settings import plan_collocated

    cfg = preset("learner.logits_chunk_tokens=1024")
    assert cfg.rollout.gpu_memory_utilization is None and cfg.rollout.kv_cache_memory_bytes is None
    plan, settings, changes = plan_collocated(cfg, 24)
    gen = plan.phase("generate")
    assert cfg.rollout.kv_cache_memory_bytes == settings.rollout_kv_cache_bytes == gen.kv
    assert gen.kv % kv_block_bytes(plan.policy, 2) == 0  # vLLM's pool is whole blocks
    assert cfg.rollout.gpu_memory_utilization == settings.rollout_gpu_memory_utilization
    engine_own = sum(it.nbytes for it in gen.items if it.engine) + gen.kv
    assert settings.rollout_gpu_memory_utilization == round((engine_own + 0.5 * GIB) / (24 * GIB), 3)
    assert any(c.startswith("rollout.kv_cache_memory_bytes: null -> ") for c in changes)
    assert any(c.startswith("rollout.gpu_memory_utilization: null -> ") for c in changes)
    # what vLLM gets: the engine factory passes both keys to a vLLM engine, none to HF
    from rlsys.rollout import engines

    seen = {}

    def record(path, opts):  # a registered engine factory that only records its options
        seen["opts"] = opts
        return SimpleNamespace(tokenizer=None)

    monkeypatch.setitem(engines.ENGINES, "vllm", record)
    engines.build_engine(cfg.model, cfg.rollout, model_path="/nonexistent")
    assert seen["opts"].kv_cache_memory_bytes == gen.kv
    assert seen["opts"].gpu_memory_utilization == settings.rollout_gpu_memory_utilization


def test_a_configured_rollout_kv_cache_is_what_the_plan_counts():
    cfg = preset("learner.logits_chunk_tokens=1024", f"rollout.kv_cache_memory_bytes={2 * GIB}")
    plan = plan_memory(cfg, 24, CHUNKED)
    assert plan.phase("generate").kv == 2 * GIB
    assert plan.problems() == []
    assert plan.episodes_resident == kv_requests_held(2 * GIB, plan.policy, 6144, 2) == 2


@pytest.mark.parametrize("override, key, says", [
    (f"rollout.kv_cache_memory_bytes={GIB // 2}", "rollout.kv_cache_memory_bytes", "less than one episode needs"),
    (f"rollout.kv_cache_memory_bytes={8 * GIB}", "rollout.kv_cache_memory_bytes", "puts the generate phase at"),
    ("rollout.gpu_memory_utilization=0.35", "rollout.gpu_memory_utilization", "less than one episode needs"),
    ("rollout.gpu_memory_utilization=0.9", "rollout.gpu_memory_utilization", "asks vLLM for"),
])
def test_the_controller_refuses_rollout_memory_keys_that_cannot_fit(override, key, says):
    from rlsys.memory_plan.settings import plan_collocated

    cfg = preset("learner.logits_chunk_tokens=1024", override)
    before = cfg.model_dump()
    with pytest.raises(MemoryPlanError) as err:
        plan_collocated(cfg, 24)
    message = str(err.value)
    assert f"{key} = " in message and says in message
    assert "set it to null" in message  # names the key and what to change it to
    assert cfg.model_dump() == before  # refused before anything was applied


def test_rollout_memory_keys_are_range_checked():
    from rlsys.config import ConfigError

    for bad, says in (("rollout.gpu_memory_utilization=0", "must be > 0"),
                      ("rollout.gpu_memory_utilization=1.2", "must be <= 1"),
                      ("rollout.kv_cache_memory_bytes=0", "must be >= 1")):
        with pytest.raises(ConfigError, match=rf"rollout\.{bad.split('.')[1].split('=')[0]}.*{says}"):
            preset(bad)
