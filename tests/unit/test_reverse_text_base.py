"""The reverse-text copy base measures whether it copies, and fails with its figures when it does not."""

from __future__ import annotations

import json

import pytest

from rlsys.env.reverse_text_base import MARKER, CopyBaseError, build_copy_base, copy_accuracy


def test_a_base_that_never_learns_to_copy_fails_with_every_round_recorded(tmp_path):
    out = tmp_path / "nano-reverse"
    with pytest.raises(CopyBaseError, match=r"copies \d+% of held-out strings after 2 rounds of 5 steps"):
        build_copy_base(out, steps=5, min_copy_accuracy=0.8, max_rounds=2)
    record = json.loads((out / MARKER).read_text())
    assert record["copies"] is False
    assert [r["round"] for r in record["rounds"]] == [1, 2]
    # 10 steps from random init copy nothing; the recorded figure is the measured one
    assert record["rounds"][-1]["copy_accuracy"] == copy_accuracy(out) < 0.8
    # a failed base is not mistaken for a finished one: the next call trains again (and fails again)
    with pytest.raises(CopyBaseError):
        build_copy_base(out, steps=5, min_copy_accuracy=0.8, max_rounds=1)


def test_the_copy_threshold_is_range_checked(tmp_path):
    with pytest.raises(ValueError, match="min_copy_accuracy"):
        build_copy_base(tmp_path / "m", min_copy_accuracy=1.5)
