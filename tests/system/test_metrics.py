"""MetricsWriter / read_metrics: round trip, a killed run's truncated line, resume without duplicates."""

from __future__ import annotations

import importlib.util
import json

import pytest

from rlsys.metrics import MetricsError, MetricsWriter, metrics_path, read_metrics


def test_round_trip_jsonl_and_tensorboard(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        writer.log(0, {"loss": 2.5, "epoch": 0}, stage="sft")
        writer.log(1, {"reward_mean": 0.25, "accuracy": 0.5}, stage="rl")
        writer.log(1, {"accuracy": 0.375}, stage="eval")
    rows = read_metrics(tmp_path)
    assert [(r["step"], r["stage"]) for r in rows] == [(0, "sft"), (1, "rl"), (1, "eval")]
    assert rows[1]["reward_mean"] == 0.25 and rows[0]["epoch"] == 0
    assert all(isinstance(r["time"], float) for r in rows)
    assert [r["accuracy"] for r in read_metrics(tmp_path, stage="eval")] == [0.375]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for stage in ("sft", "rl", "eval"):
        acc = EventAccumulator(str(tmp_path / "tb" / stage))
        acc.Reload()
        tags[stage] = acc
    assert "sft/loss" in tags["sft"].Tags()["scalars"] and "eval/accuracy" in tags["eval"].Tags()["scalars"]
    assert [e.value for e in tags["rl"].Scalars("rl/reward_mean")] == [0.25]


def test_each_log_is_on_disk_before_close(tmp_path):
    writer = MetricsWriter(tmp_path, use_tensorboard=False)
    writer.log(3, {"x": 1.0})
    # a second reader sees the line while the writer is still open (no buffering)
    assert read_metrics(tmp_path)[0]["x"] == 1.0
    writer.close()


def test_truncated_last_line_is_skipped_and_repaired(tmp_path):
    with MetricsWriter(tmp_path, use_tensorboard=False) as writer:
        writer.log(1, {"x": 1.0})
        writer.log(2, {"x": 2.0})
    with open(metrics_path(tmp_path), "a") as handle:
        handle.write('{"step": 3, "stage": "rl", "x": 3.')  # killed mid-write
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    with MetricsWriter(tmp_path, use_tensorboard=False) as writer:  # reopening removes the fragment
        writer.log(3, {"x": 3.0})
    lines = metrics_path(tmp_path).read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    metrics_path(tmp_path).write_text('{"step": 1, "stage": "rl"}\nnot json\n{"step": 2, "stage": "rl"}\n')
    with pytest.raises(MetricsError, match="line 2"):
        read_metrics(tmp_path)


def test_resume_drops_lines_after_the_checkpoint(tmp_path):
    with MetricsWriter(tmp_path) as writer:
        for sft_step in range(30):  # SFT optimizer steps run past the RL checkpoint's step number
            writer.log(sft_step, {"loss": 3.0 - sft_step / 10}, stage="sft")
        for step in range(1, 8):
            writer.log(step, {"reward_mean": step / 10}, stage="rl")
            if step % 3 == 0:
                writer.log(step, {"accuracy": step / 20}, stage="eval")
    # the controller crashed after step 7; the last checkpoint is step 5
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with MetricsWriter(tmp_path, resume_step=5) as writer:
        assert writer.dropped == 3  # rl 6, rl 7, eval 6
        for step in range(6, 9):
            writer.log(step, {"reward_mean": step / 10 + 1}, stage="rl")
    rl = read_metrics(tmp_path, stage="rl")
    assert [r["step"] for r in rl] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r["reward_mean"] for r in rl][5:] == [1.6, 1.7, 1.8]
    assert [r["step"] for r in read_metrics(tmp_path, stage="eval")] == [3]
    stale = EventAccumulator(str(tmp_path / "tb" / "eval"))  # no eval logged since the resume
    stale.Reload()
    assert [e.step for e in stale.Scalars("eval/accuracy")] == [3]
    assert [r["step"] for r in read_metrics(tmp_path, stage="sft")] == list(range(30))  # untouched
    assert not (tmp_path / "metrics.jsonl.tmp").exists()

    acc = EventAccumulator(str(tmp_path / "tb" / "rl"))
    acc.Reload()
    events = acc.Scalars("rl/reward_mean")
    # purged, no duplicate 6/7 (file order between the two event files is TensorBoard's to choose)
    assert sorted(e.step for e in events) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert {e.step: e.value for e in events}[8] == pytest.approx(1.8)
    sft = EventAccumulator(str(tmp_path / "tb" / "sft"))
    sft.Reload()
    assert len(sft.Scalars("sft/loss")) == 30  # the RL resume purged nothing of SFT


@pytest.mark.parametrize(
    "step, metrics, match",
    [(1.5, {"x": 1}, "step must be an int"), (1, {"x": "high"}, "must be a number"), (1, {"step": 2}, "reserved")],
)
def test_bad_input_is_a_clear_error(tmp_path, step, metrics, match):
    with MetricsWriter(tmp_path, use_tensorboard=False) as writer, pytest.raises(MetricsError, match=match):
        writer.log(step, metrics)


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed here")
def test_wandb_missing_names_the_extra(tmp_path):
    with pytest.raises(MetricsError, match=r"rlsys\[wandb\]"):
        MetricsWriter(tmp_path, use_tensorboard=False, wandb_project="rlsys")
