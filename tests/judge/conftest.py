"""Fixtures of the judge tests: one nano tiny model per session (built in seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def nano_model_dir(tmp_path_factory):
    """A random-init Qwen3-architecture model with a locally trained tokenizer (`nano` size)."""
    from rlsys.rollout.prompts import prompt_corpus_text
    from rlsys.rollout.tiny_model import build_tiny_model, seed_sft_texts

    texts = seed_sft_texts(limit=20) + prompt_corpus_text() + [
        '{"category": "correct", "approach": 80, "rationale": "grounded answer"}',
        "Question: Gold answer: Agent's final answer: trajectory turn code output tool call",
    ]
    return build_tiny_model(tmp_path_factory.mktemp("judge-models") / "nano", texts, size="nano", seed=0)
