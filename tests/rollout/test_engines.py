"""The engine registry: names, `auto`, unknown names, and settings an engine cannot honour."""

from __future__ import annotations

import pytest
import torch

from rlsys.rollout.config import RolloutConfig
from rlsys.rollout.engines import ENGINES, check_rollout_engine, load_engine, resolve_engine_kind


def test_registered_engines_and_auto():
    assert {"hf", "vllm"} <= set(ENGINES)
    assert resolve_engine_kind("vllm") == "vllm"
    if not torch.cuda.is_available():
        assert resolve_engine_kind("auto") == "hf"
    with pytest.raises(ValueError, match="unknown engine 'tgi'"):
        load_engine("/nonexistent", "tgi")


def test_top_p_below_one_is_refused_for_vllm():
    check_rollout_engine(RolloutConfig(engine="vllm", top_p=1.0))
    check_rollout_engine(RolloutConfig(engine="hf", top_p=0.9))
    with pytest.raises(ValueError, match=r"rollout.top_p = 0.9 with rollout.engine: vllm.*use rollout.top_p: 1.0"):
        check_rollout_engine(RolloutConfig(engine="vllm", top_p=0.9))


def test_hf_engine_through_the_registry(tiny_model_dir):
    engine, tokenizer = load_engine(tiny_model_dir, "hf", dtype="float32", max_batch=2)
    assert type(engine).__name__ == "HFEngine" and tokenizer is engine.tokenizer
