"""The policy's base model: a real checkpoint, or the tiny model built and pretrained here.

    path = ensure_base_model(cfg)     # idempotent; the demo and tests call it before starting actors

For `model.tiny` the model is built locally (`rlsys.rollout.tiny_model`) and, with
`model.pretrain_steps > 0`, pretrained as a causal LM (`rlsys.learner.pretrain`) on the corpus
pages plus the reference tool-use transcripts in `../shared/data/seed-sft` (questions about real
Wikipedia pages, not the synthetic task), the way a real base model has seen web text and code.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rlsys.config import Config

log = logging.getLogger(__name__)


def pretraining_texts(cfg: Config, tokenizer) -> list[str]:
    """Corpus pages and, where the recovered data is present, rendered seed-SFT transcripts."""
    from rlsys.corpus.loaders import load_pages
    from rlsys.paths import shared_data_dir

    texts = [p.content for p in load_pages(cfg.corpus.source, synthetic_entities=cfg.corpus.synthetic_entities,
                                           seed=cfg.corpus.seed)]
    transcripts = []
    for path in sorted((shared_data_dir() / "seed-sft").glob("traj_*.json")):
        try:
            messages = json.loads(path.read_text())["messages"]
            transcripts.append(tokenizer.apply_chat_template(messages, tokenize=False))
        except (OSError, ValueError, KeyError) as err:
            log.warning("skipping %s: %s", path, err)
    # the transcripts are few next to the pages: repeat them so the format is seen often enough
    return texts + transcripts * max(1, len(texts) // max(1, 4 * len(transcripts)))


def ensure_base_model(cfg: Config, on_step=None) -> Path:
    from rlsys.rollout.tiny_model import ensure_model

    path = ensure_model(cfg.model)
    if not cfg.model.tiny or cfg.model.pretrain_steps <= 0:
        return path
    from transformers import AutoTokenizer

    from rlsys.learner.pretrain import pretrain_causal_lm, pretrained_marker

    if pretrained_marker(path) is None:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        summary = pretrain_causal_lm(path, pretraining_texts(cfg, tokenizer), steps=cfg.model.pretrain_steps,
                                     seed=cfg.train.seed, on_step=on_step)
        log.info("base model pretrained: %s", summary)
    return path
