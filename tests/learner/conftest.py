"""Fixtures of the learner tests: one tiny Qwen3-architecture model (with a ChatML tokenizer) per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _fallback_tiny_model(out: Path, texts: list[str]) -> Path:
    """A tiny Qwen3 model + BPE tokenizer with a ChatML template (used if rollout's builder is absent)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2048, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    template = ("{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                     chat_template=template)
    config = Qwen3Config(vocab_size=len(hf_tok), hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=8192,
                         tie_word_embeddings=True, eos_token_id=hf_tok.eos_token_id, pad_token_id=hf_tok.pad_token_id)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(out)
    hf_tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init tiny Qwen3 model directory (rollout's `build_tiny_model`, size nano)."""
    out = tmp_path_factory.mktemp("learner-model") / "tiny-qwen3"
    texts = []
    from rlsys.paths import shared_data_dir

    for path in sorted((shared_data_dir() / "seed-sft").glob("traj_*.json"))[:16]:
        texts += [m["content"] for m in json.loads(path.read_text())["messages"]]
    texts = texts or ["hello world, a tiny corpus for a tiny tokenizer"] * 10
    try:
        from rlsys.rollout.tiny_model import build_tiny_model
    except ImportError:
        return _fallback_tiny_model(out, texts)
    return build_tiny_model(out, texts, size="nano", seed=0)
