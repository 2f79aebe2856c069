"""Fixtures of the rollout tests: one tiny model built per session (seconds)."""

from __future__ import annotations

import pytest

from rlsys.rollout.prompts import prompt_corpus_text


def _texts() -> list[str]:
    from rlsys.rollout.tiny_model import seed_sft_texts

    extra = [
        "search_pages view_sections read_section print page_id section_id title for r in results",
        "<python>\nprint(search_pages('x'))\n</python>",
    ]
    return seed_sft_texts(limit=30) + extra + prompt_corpus_text()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The `tiny` preset (~4M parameters), built from seed-SFT and prompt text."""
    from rlsys.rollout.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", _texts(), size="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


ENTITIES = 40


@pytest.fixture(scope="session")
def corpus_cfg(tmp_path_factory):
    """A small synthetic corpus index (built once per session)."""
    from rlsys.corpus.config import CorpusConfig

    return CorpusConfig(source="synthetic", synthetic_entities=ENTITIES, index_dir=str(tmp_path_factory.mktemp("index")))


@pytest.fixture(scope="session")
def corpus(corpus_cfg):
    from rlsys.corpus.service import CorpusService

    return CorpusService.from_config(corpus_cfg)


@pytest.fixture(scope="session")
def questions(corpus_cfg):
    from rlsys.corpus.synthetic import generate_synthetic

    return generate_synthetic(ENTITIES, seed=corpus_cfg.seed)[1]
