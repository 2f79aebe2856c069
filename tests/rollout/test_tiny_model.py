"""The tiny offline model: a normal HF folder, protocol tags as single tokens, deterministic."""

from __future__ import annotations

import json

import pytest

from rlsys.rollout.chat_format import QWEN3_CHAT_TEMPLATE
from rlsys.rollout.config import ModelConfig
from rlsys.rollout.tiny_model import PROTOCOL_TOKENS, SIZES, build_tiny_model, ensure_model


def test_loads_through_auto_classes(tiny_model_dir, tiny_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen3"
    assert model.config.vocab_size == len(tiny_tokenizer)
    assert tiny_tokenizer.eos_token == "<|im_end|>" and tiny_tokenizer.pad_token == "<|endoftext|>"
    assert model.config.eos_token_id == tiny_tokenizer.eos_token_id
    n = sum(p.numel() for p in model.parameters())
    assert 1_000_000 < n < 20_000_000
    ids = torch.tensor([tiny_tokenizer.encode("Question: where?")])
    assert model(ids).logits.shape == (1, ids.shape[1], len(tiny_tokenizer))
    config = json.loads((tiny_model_dir / "tokenizer_config.json").read_text())
    assert config["chat_template"] == QWEN3_CHAT_TEMPLATE


@pytest.mark.parametrize("tag", PROTOCOL_TOKENS + ["<|im_start|>", "<|im_end|>", "<|endoftext|>"])
def test_tags_are_single_tokens_and_survive_decoding(tiny_tokenizer, tag):
    ids = tiny_tokenizer.encode(f"x{tag}\ny", add_special_tokens=False)
    assert tiny_tokenizer.convert_tokens_to_ids(tag) in ids
    assert tiny_tokenizer.decode(ids) == f"x{tag}\ny"


def test_chat_template_is_chatml_with_generation_prompt(tiny_tokenizer):
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "<think>\nr\n</think>\n\n<python>\n1\n</python>"},
        {"role": "user", "content": "<python_output>\n1\n</python_output>"},
    ]
    text = tiny_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n"
        "<|im_start|>assistant\n<python>\n1\n</python><|im_end|>\n"  # earlier <think> dropped, as Qwen3 does
        "<|im_start|>user\n<python_output>\n1\n</python_output><|im_end|>\n<|im_start|>assistant\n"
    )
    last = tiny_tokenizer.apply_chat_template(messages[:3], tokenize=False)
    assert "<think>\nr\n</think>\n\n<python>" in last  # the latest assistant turn keeps its thinking


def test_build_is_deterministic_and_seeded(tmp_path):
    texts = ["alpha beta gamma delta " * 20, "search_pages('alpha')"]
    a = build_tiny_model(tmp_path / "a", texts, size="nano", seed=0)
    b = build_tiny_model(tmp_path / "b", texts, size="nano", seed=0)
    c = build_tiny_model(tmp_path / "c", texts, size="nano", seed=1)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_unknown_size_and_missing_model_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown tiny model size"):
        build_tiny_model(tmp_path / "x", ["a"], size="huge")
    with pytest.raises(FileNotFoundError, match="model.tiny=true"):
        ensure_model(ModelConfig(path=str(tmp_path / "missing"), tiny=False))
    assert set(SIZES) >= {"nano", "tiny", "small", "base"}


def test_ensure_model_builds_once(tmp_path):
    cfg = ModelConfig(path=str(tmp_path / "m"), tiny=True)
    path = ensure_model(cfg, texts=["some text for the tokenizer"] * 5, size="nano")
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ensure_model(cfg) == path and (path / "model.safetensors").stat().st_mtime_ns == stamp
