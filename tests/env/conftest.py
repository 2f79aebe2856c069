"""The env tests reuse the rollout tests' tiny model and tokenizer fixtures."""

from tests.rollout.conftest import tiny_model_dir, tiny_tokenizer  # noqa: F401
