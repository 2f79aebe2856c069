"""Memory plan arithmetic against numbers worked out by hand for Qwen3-4B, and its refusals.

Hand computation (Qwen3-4B: h=2560, i=9728, L=36, 32 heads, 8 kv heads, head_dim 128, V=151936, tied):
  linear/layer = 2560*4096 + 2*2560*1024 + 4096*2560 + 3*2560*9728 = 100,925,440
  norms = 36*(2*2560 + 2*128) + 2560 = 196,096; embedding = 151936*2560 = 388,956,160
  params = 36*100,925,440 + 388,956,160 + 196,096 = 4,022,468,096 (the published 4.0B)
  LoRA r=16 on 7 modules = 36*16*(6656 + 3584 + 3584 + 6656 + 12288*3) = 33,030,144
  KV/token = 2*36*8*128*2 = 147,456 B; one 6144-token episode = 905,969,664 B
  activations/token (checkpointing) = 36*2560*2 + (12*2560 + 10*4096 + 10*1024 + 8*9728) + 2*2560*2
                                    = 184,320 + 159,744 + 10,240 = 354,304 B
  logits (6144 positions) = 6144 * 151936 * 12 B = 11,201,937,408 B
"""

from __future__ import annotations

import json

import pytest

from rlsys.config import load_config
from rlsys.memory_plan import (
    GIB,
    MemoryPlanError,
    ModelShapeError,
    PlanOptions,
    activation_bytes,
    logits_bytes,
    model_shape,
    plan_memory,
)

QWEN3_4B_CONFIG = {
    "architectures": ["Qwen3ForCausalLM"], "hidden_size": 2560, "intermediate_size": 9728,
    "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
    "vocab_size": 151936, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
}


def preset(*overrides: str):
    return load_config("configs/qwen3-4b-24gb.yaml", list(overrides))


def item(plan, phase: str, name: str) -> int:
    return next(it.nbytes for it in plan.phase(phase).items if it.name == name)


def test_qwen3_4b_counts_by_hand():
    shape = model_shape("Qwen/Qwen3-4B")
    assert shape.param_count() == 4_022_468_096
    assert shape.weight_bytes(2) == 8_044_936_192
    assert shape.lora_params(16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]) == 33_030_144
    assert shape.kv_bytes_per_token(2) == 147_456
    assert activation_bytes(shape, 6144, checkpointing=True) == 6144 * 354_304
    assert activation_bytes(shape, 6144, checkpointing=False) == 6144 * (36 * 159_744 + 10_240)
    assert logits_bytes(shape, 6144) == 11_201_937_408


def test_other_builtin_shapes_match_published_sizes():
    assert model_shape("Qwen/Qwen3-1.7B").param_count() == pytest.approx(1.72e9, rel=0.01)
    assert model_shape("Qwen3-8B").param_count() == pytest.approx(8.19e9, rel=0.01)
    # AWQ: 4-bit linears + fp16 scale and 4-bit zero per 128 weights + bf16 embeddings (untied)
    linear = 36 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 12288)
    by_hand = linear // 2 + (linear // 128) * 2 + (linear // 128) // 2 + (2 * 151936 * 4096 + 36 * (2 * 4096 + 256) + 4096) * 2
    assert model_shape("Qwen/Qwen3-8B-AWQ").weight_bytes(2) == by_hand == 6_098_479_104


def test_shapes_from_a_local_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_4B_CONFIG))
    local = model_shape(str(tmp_path))
    assert local.param_count() == model_shape("Qwen/Qwen3-4B").param_count()
    with pytest.raises(ModelShapeError, match="no shapes for model 'org/unknown-7b'"):
        model_shape("org/unknown-7b")


UNCHUNKED = "learner.logits_chunk_tokens=0"


def test_learn_phase_of_the_24gb_preset_by_hand():
    plan = plan_memory(preset(UNCHUNKED), 24)
    learn = plan.phase("learn")
    assert item(plan, "learn", "policy weights (learner)") == 8_044_936_192
    assert item(plan, "learn", "LoRA + AdamW states (fp32)") == 33_030_144 * 16
    assert item(plan, "learn", "activations") == 6144 * 354_304  # micro_batch 1
    assert item(plan, "learn", "logits for the loss") == 11_201_937_408
    # 3 CUDA contexts (learner, rollout, judge) + 5% headroom + two sleeping engines, 0.5 GiB each
    overhead = int(1.5 * GIB) + int(0.05 * 24 * GIB) + 2 * int(0.5 * GIB)
    expected = 8_044_936_192 + 528_482_304 + 2_176_843_776 + 11_201_937_408 + overhead
    assert learn.total == expected
    assert expected > 24 * GIB  # unchunked logits do not fit next to everything else


def test_refuses_with_what_to_change():
    plan = plan_memory(preset(UNCHUNKED), 24)
    with pytest.raises(MemoryPlanError) as err:
        plan.check()
    text = str(err.value)
    assert "learn phase needs" in text and "logits for the loss 10.43 GiB" in text
    assert "learner.logits_chunk_tokens" in text and "rollout.max_episode_tokens (now 6144)" in text

    bigger_batch = plan_memory(preset("learner.micro_batch=8", UNCHUNKED), 24, PlanOptions(logits_chunk_tokens=1024))
    with pytest.raises(MemoryPlanError, match=r"lower learner.micro_batch \(now 8\)"):
        bigger_batch.check()


def test_chunked_logits_fit_and_size_the_kv_cache():
    plan = plan_memory(preset(), 24, PlanOptions(logits_chunk_tokens=1024))
    plan.check()  # fits
    assert item(plan, "learn", "logits for the loss") == 1024 * 151936 * 12
    gen = plan.phase("generate")
    block = 16 * 147_456  # vLLM's KV pool is whole blocks of 16 tokens (`test_memory_plan_vllm.py`)
    assert gen.total <= 24 * GIB and gen.kv == (24 * GIB - gen.fixed) // block * block  # KV takes what is left
    assert plan.episodes_resident == (gen.kv - block) // 905_969_664  # less vLLM's null block
    assert 1 <= plan.episodes_resident < 96
    assert any("rollout.concurrency (now 96" in w for w in plan.warnings())
    with pytest.raises(MemoryPlanError, match="concurrency wants"):
        plan.check(strict=True)
    text = plan.render()
    for needle in ("generate", "judge", "learn", "rollout KV cache", "gpu_memory_utilization"):
        assert needle in text


def test_learner_offload_frees_the_generate_phase():
    kept = plan_memory(preset(), 24, PlanOptions(logits_chunk_tokens=1024))
    offloaded = plan_memory(preset(), 24, PlanOptions(logits_chunk_tokens=1024, learner_offload=True))
    gained = offloaded.phase("generate").kv - kept.phase("generate").kv
    assert abs(gained - 8_044_936_192) < 16 * 147_456  # the weights, in whole KV blocks
    assert offloaded.cpu_offload_bytes - kept.cpu_offload_bytes == 8_044_936_192


def test_generate_phase_that_cannot_hold_one_episode_names_concurrency():
    cfg = load_config("configs/qwen3-4b-24gb.yaml", ["model.path=Qwen/Qwen3-8B"])
    plan = plan_memory(cfg, 16, PlanOptions(logits_chunk_tokens=1024))
    with pytest.raises(MemoryPlanError) as err:
        plan.check()
    assert "generate phase needs" in str(err.value) and "rollout.concurrency" in str(err.value)


def test_rule_judge_has_no_judge_phase(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_4B_CONFIG))
    cfg = load_config("configs/qwen3-4b-24gb.yaml", [f"model.path={tmp_path}", "judge.kind=rule"])
    plan = plan_memory(cfg, 80)
    assert [p.name for p in plan.phases] == ["generate", "learn"]
    assert plan.judge is None
    plan.check()
    assert plan.to_dict()["fits"] is True


def test_command_line_exit_codes(capsys):
    from rlsys.memory_plan.__main__ import main

    assert main(["--gpu-gb", "24"]) == 0  # the preset's default: loss over 1,024-position chunks
    assert "rollout KV cache" in capsys.readouterr().out
    assert main(["--gpu-gb", "24", "--set", UNCHUNKED]) == 1  # unchunked logits: the learn phase does not fit
    assert "DOES NOT FIT: the learn phase" in capsys.readouterr().out
    assert main(["--set", "model.path=nope/x"]) == 2
    assert "no shapes for model 'nope/x'" in capsys.readouterr().err


def test_learner_token_caps_bound_the_micro_batch():
    opts = PlanOptions(logits_chunk_tokens=1024)
    capped = plan_memory(preset("learner.micro_batch=8", "learner.micro_batch_tokens=12288"), 24, opts)
    assert item(capped, "learn", "activations") == 12288 * 354_304  # 2 episodes, not 8
    truncated = plan_memory(preset("learner.max_tokens=4096"), 24, opts)
    assert item(truncated, "learn", "activations") == 4096 * 354_304
    one_long = plan_memory(preset("learner.micro_batch_tokens=1000"), 24, opts)
    assert item(one_long, "learn", "activations") == 6144 * 354_304  # never below one trajectory


def test_float32_doubles_weights_and_activations():
    bf16 = plan_memory(preset(), 80, PlanOptions(logits_chunk_tokens=1024))
    fp32 = plan_memory(preset("model.dtype=float32"), 80, PlanOptions(logits_chunk_tokens=1024))
    for name in ("policy weights (learner)", "activations"):
        assert item(fp32, "learn", name) == 2 * item(bf16, "learn", name)
    with pytest.raises(MemoryPlanError, match="no shapes for model"):
        plan_memory(preset("judge.model=org/judge-x"), 24)


def test_plan_decides_engine_settings_of_the_24gb_preset():
    from rlsys.memory_plan.settings import apply_settings, engine_settings

    cfg = preset()
    plan = plan_memory(cfg, 24, PlanOptions(logits_chunk_tokens=1024))
    plan.check()
    settings = engine_settings(plan, cfg)
    gen, jud = plan.phase("generate"), plan.phase("judge")
    assert settings.rollout_kv_cache_bytes == gen.kv
    assert settings.rollout_concurrency == plan.episodes_resident == (gen.kv - 16 * 147_456) // 905_969_664 < 96
    assert settings.max_loras == 1 and settings.max_lora_rank == 16  # max_staleness 0, r=16
    engine_own = sum(it.nbytes for it in gen.items if it.engine) + gen.kv
    assert settings.rollout_gpu_memory_utilization == round((engine_own + 0.5 * GIB) / (24 * GIB), 3)
    assert settings.judge_kv_cache_bytes == jud.kv
    assert 0 < settings.judge_gpu_memory_utilization < 1
    changes = apply_settings(cfg, settings)
    assert cfg.rollout.concurrency == settings.rollout_concurrency
    assert cfg.judge.gpu_memory_utilization == settings.judge_gpu_memory_utilization
    assert changes[0].startswith(f"rollout.concurrency: 96 -> {settings.rollout_concurrency}")
    assert apply_settings(cfg, settings) == []  # applied once, nothing left to change
