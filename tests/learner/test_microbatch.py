"""Length bucketing and padding of micro-batches."""

import random

import pytest
import torch

from rlsys.learner.microbatch import Sample, bucket, collate


def test_bucketing_respects_limits_and_keeps_every_sample_once():
    rng = random.Random(0)
    samples = [Sample([1] * rng.randint(3, 60), [1] * 0, index=i) for i in range(50)]
    for s in samples:
        s.loss_mask = [0] + [1] * (len(s.token_ids) - 1)
    batches = bucket(samples, max_sequences=4, max_tokens=120)
    seen = sorted(s.index for b in batches for s in b)
    assert seen == list(range(50))
    for b in batches:
        longest = max(len(s.token_ids) for s in b)
        assert len(b) <= 4
        assert longest * len(b) <= 120 or len(b) == 1
    lengths = [len(s.token_ids) for b in batches for s in b]
    assert lengths == sorted(lengths, reverse=True)  # similar lengths share a micro-batch
    with pytest.raises(ValueError):
        bucket(samples, 0)


def test_collate_pads_right_and_masks_the_first_token():
    a = Sample([5, 6, 7], [1, 1, 1], [0.0, -1.0, -2.0], advantage=0.5, temperature=0.7, index=0)
    b = Sample([8, 9], [0, 1], None, advantage=-1.0, index=1)
    mb = collate([a, b], pad_id=0)
    assert mb.input_ids.tolist() == [[5, 6, 7], [8, 9, 0]]
    assert mb.attention_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert mb.loss_mask.tolist() == [[0, 1, 1], [0, 1, 0]]
    assert mb.behaviour_logprobs.tolist() == [[0.0, -1.0, -2.0], [0.0, 0.0, 0.0]]
    torch.testing.assert_close(mb.temperatures, torch.tensor([0.7, 1.0]))
    with pytest.raises(ValueError, match="lengths differ"):
        collate([Sample([1, 2], [1], index=3)], 0)
