"""The policy's base model: a real checkpoint, or the tiny model built and pretrained here.

    path = ensure_base_model(cfg)     # idempotent; the demo and tests call it before starting actors

For `model.tiny` the model is built locally (`rlsys.rollout.tiny_model`) and, with
`model.pretrain_steps > 0`, pretrained as a causal LM (`rlsys.learner.pretrain`) on the corpus
pages plus the reference tool-use transcripts in `../shared/data/seed-sft` (questions about real
Wikipedia pages, not the synthetic task), the way a real base model has seen web text and code,
plus copy drills (`copy_drills`): spans of page text repeated a few lines later. Copying what is in
the context (a name into a query, a printed value into an answer) is the one skill a real base
model brings that a few hundred steps of plain text do not teach a 4M-parameter model; the drills
grow that skill (induction heads) without showing the task.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from rlsys.config import Config

log = logging.getLogger(__name__)


# how a span and its copy are laid out: code, REPL echo, quotes, markup; never the task's own protocol
DRILL_FORMATS = (
    'name = "{s}"\nprint(name)\n{s}',
    '>>> print("{s}")\n{s}',
    'The phrase "{s}" was copied as: {s}',
    "({s}) -> [{s}]",
    "key: {s}\nvalue: {s}",
    "<b>{s}</b> <i>{s}</i>",
)


def copy_drills(texts: list[str], count: int, seed: int = 0, per_text: int = 6) -> list[str]:
    """`count` texts of `per_text` drills each: a span of 1-12 words and its copy. Half the spans
    are runs of words of `texts`, half are words drawn at random from them, which cannot be
    predicted from the words before, only copied."""
    rng = random.Random(f"drills:{seed}")
    words = [t.split() for t in texts if t.strip()]
    vocabulary = sorted({w for ws in words for w in ws})
    out = []
    for _ in range(count):
        lines = []
        for _ in range(per_text):
            source = rng.choice(words)
            n = rng.randint(1, min(12, len(source)))
            if rng.random() < 0.5:
                span = " ".join(rng.choice(vocabulary) for _ in range(n))
            else:
                start = rng.randrange(0, len(source) - n + 1)
                span = " ".join(source[start : start + n])
            lines.append(rng.choice(DRILL_FORMATS).format(s=span))
        out.append("\n\n".join(lines))
    return out


def pretraining_texts(cfg: Config, tokenizer) -> list[str]:
    """Corpus pages, rendered seed-SFT transcripts (where the recovered data is present) and copy
    drills making up `model.pretrain_copy_share` of the texts."""
    share = cfg.model.pretrain_copy_share
    if not 0 <= share < 1:
        raise ValueError(f"model.pretrain_copy_share must be in [0, 1) (got {share})")
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
    texts = texts + transcripts * max(1, len(texts) // max(1, 4 * len(transcripts)))
    if share > 0:
        # drills are ~6 short lines; pages are ~10x longer: count drills by characters, not texts
        chars = sum(len(t) for t in texts)
        per_drill = max(1, len(copy_drills(texts, 1, cfg.train.seed)[0]))
        texts += copy_drills(texts, int(chars * share / (1 - share) / per_drill), cfg.train.seed)
    return texts


def ensure_base_model(cfg: Config, on_step=None) -> Path:
    from rlsys.rollout.tiny_model import ensure_model

    path = ensure_model(cfg.model)
    if not cfg.model.tiny or cfg.model.pretrain_steps <= 0:
        return path
    from transformers import AutoTokenizer

    from rlsys.learner.pretrain import pretrain_causal_lm, pretrained_marker

    marker = pretrained_marker(path)
    if marker is not None:  # a model pretrained before is reused as it is
        recipe = {"steps": cfg.model.pretrain_steps, "copy_steps": cfg.model.pretrain_copy_steps}
        if {k: marker.get(k) for k in recipe} != recipe:
            log.warning("the base at %s was pretrained with %s, the config asks for %s; using it as it is (delete "
                        "it, or point model.path elsewhere, to pretrain with the config's recipe)", path,
                        {k: marker.get(k) for k in recipe}, recipe)
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        summary = pretrain_causal_lm(path, pretraining_texts(cfg, tokenizer), steps=cfg.model.pretrain_steps,
                                     seq_len=cfg.model.pretrain_seq_len, lr=cfg.model.pretrain_lr,
                                     copy_steps=cfg.model.pretrain_copy_steps, copy_lr=cfg.model.pretrain_copy_lr,
                                     copy_extend=True, seed=cfg.train.seed, on_step=on_step)
        log.info("base model pretrained: %s", summary)
    return path
