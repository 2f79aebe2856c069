"""Base-model pretraining of the tiny model: the copy task, the copy drills, the atomic rewrite."""

from __future__ import annotations

import json
import random
import re
import shutil

import torch

from rlsys.base_model import DRILL_FORMATS, copy_drills
from rlsys.learner.pretrain import COPY_LEARNED_LOSS, MARKER, copy_task_batch, pretrain_causal_lm, pretrained_marker


def _segments(mask: list[int]) -> list[tuple[int, int]]:
    out, start = [], None
    for i, m in enumerate(mask + [0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append((start, i))
            start = None
    return out


def test_copy_task_masks_exactly_the_repeats_of_an_earlier_run():
    ids, mask = copy_task_batch(random.Random(3), low=10, high=50, batch_size=8, seq_len=96)
    assert ids.shape == mask.shape == (8, 96)
    assert 10 <= int(ids.min()) and int(ids.max()) < 50
    for row, row_mask in zip(ids.tolist(), mask.int().tolist()):
        segments = _segments(row_mask)
        assert segments and row_mask[0] == 0
        for a, b in segments[:-1]:  # the last one may be cut by seq_len
            n = b - a
            assert 3 <= n <= 12
            # the run sits n + gap (0..6) tokens earlier and is unmasked
            assert any(row[a - n - g : a - g] == row[a:b] and not any(row_mask[a - n - g : a - g]) for g in range(7))


def test_copy_drills_repeat_their_span_and_are_deterministic():
    texts = ["Clio Torström was born in 1917 in Kileth Junction, the second of four children."]
    drills = copy_drills(texts, 5, seed=1)
    assert drills == copy_drills(texts, 5, seed=1) and drills != copy_drills(texts, 5, seed=2)
    words = set(texts[0].split())
    patterns = [re.compile(re.escape(f).replace(re.escape("{s}"), "(.+)", 1).replace(re.escape("{s}"), r"\1") + "$",
                           re.S) for f in DRILL_FORMATS]
    for drill in drills:
        blocks = drill.split("\n\n")
        assert len(blocks) == 6
        for block in blocks:
            match = next(m for m in (p.match(block) for p in patterns) if m)
            assert set(match.group(1).split()) <= words


def test_pretraining_runs_both_phases_and_rewrites_the_model_atomically(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    before = (model_dir / "model.safetensors").read_bytes()
    seen = []
    summary = pretrain_causal_lm(model_dir, ["a short text about a town and a river. " * 40] * 4, steps=3,
                                 batch_size=2, seq_len=32, copy_steps=2, on_step=lambda s, loss: seen.append(s))
    assert seen == [1, 2, 3, 4, 5]
    assert summary["copy_steps"] == 2 and summary["steps"] == 3 and torch.isfinite(torch.tensor(summary["loss_last"]))
    assert pretrained_marker(model_dir) == json.loads((model_dir / MARKER).read_text())
    assert (model_dir / "model.safetensors").read_bytes() != before
    assert not any(p.name.endswith(("-tmp", "-old")) for p in tmp_path.iterdir())
    # a second call is a no-op that returns the recorded summary
    assert pretrain_causal_lm(model_dir, ["x"], steps=1) == summary


def test_an_unlearned_copy_phase_is_extended_up_to_its_length_when_asked(tiny_model_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    seen = []
    # 2 copy steps from random init leave the copy loss near ln(vocab), far above COPY_LEARNED_LOSS
    summary = pretrain_causal_lm(model_dir, ["a short text about a town and a river. " * 40] * 4, steps=3,
                                 batch_size=2, seq_len=32, copy_steps=2, copy_extend=True,
                                 on_step=lambda s, loss: seen.append(s))
    assert summary["copy_loss_last"] > COPY_LEARNED_LOSS
    assert summary["copy_extra_steps"] == 2  # capped at copy_steps more
    assert seen == [1, 2, 3, 4, 5, 6, 7]
