"""The train and held-out questions of the configured corpus."""

from __future__ import annotations

from rlsys.config import Config
from rlsys.corpus.types import Question


def load_questions(cfg: Config) -> tuple[list[Question], list[Question]]:
    """Train and held-out questions of the configured corpus."""
    from rlsys.corpus.loaders import load_questions as load, questions_source_for

    source = questions_source_for(cfg.corpus.source, cfg.corpus.questions)
    questions = load(source, synthetic_entities=cfg.corpus.synthetic_entities, seed=cfg.corpus.seed)
    train = [q for q in questions if q.split == "train"]
    test = [q for q in questions if q.split != "train"]
    if not train or not test:
        raise ValueError(f"{source}: need both training and held-out questions (got {len(train)} / {len(test)})")
    return train, test
