"""The train and held-out questions of the configured environment (`env.name`)."""

from __future__ import annotations

from rlsys.config import Config
from rlsys.corpus.types import Question


def load_questions(cfg: Config) -> tuple[list[Question], list[Question]]:
    """Train and held-out questions of the configured environment (wiki_search: of the corpus)."""
    from rlsys.env.registry import environment_of

    train, test = environment_of(cfg).questions(cfg)
    if not train or not test:
        raise ValueError(f"environment {cfg.env.name}: need both training and held-out questions "
                         f"(got {len(train)} / {len(test)})")
    return list(train), list(test)
