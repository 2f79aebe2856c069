"""`rlsys eval --search best-of-n` end to end on the nano model (untrained: the answers do not
matter): width episodes per question ran and were judged, the pick is in the eval file, and the
budget counts every episode's generated tokens and sandbox cells."""

from __future__ import annotations

import json

import pytest

from rlsys.cli import main as rlsys_main

pytestmark = pytest.mark.slow

ENTITIES = 60  # the pipeline conftest's index (tests/pipeline has no package to import it from)


def test_best_of_n_eval_writes_the_pick_and_the_budget(pipeline_artifacts, local_ray, tmp_path):
    index, model = pipeline_artifacts
    overrides = [f"corpus.synthetic_entities={ENTITIES}", f"corpus.index_dir={index}", f"model.path={model}",
                 "rollout.max_turns=2", "rollout.max_new_tokens=24", "rollout.concurrency=4",
                 "sandbox.containers_per_worker=2", "sandbox.burst_containers=2", f"train.output_dir={tmp_path}"]
    args = ["eval", "--config", "configs/tiny-cpu.yaml"] + [x for o in overrides for x in ("--set", o)]
    assert rlsys_main(args + ["--search", "best-of-n", "--width", "3", "--limit", "2", "--run-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "eval" / "base-best-of-3.json").read_text())
    budget = record["extra"]["budget"]
    assert (budget["search"], budget["width"], budget["questions"], budget["scorer"]) == ("best-of-n", 3, 2, "grounded")
    assert budget["episodes"] == 6 and budget["generated_tokens"] > 0 and budget["sandbox_cells"] >= 0
    assert record["summary"]["episodes"] == 2 and len(record["episodes"]) == 2
    assert budget["lost"] == 0 and 0.0 <= budget["any_correct"] <= 1.0


def test_beam_eval_runs_on_the_rollout_workers_and_the_real_sandbox(pipeline_artifacts, local_ray, tmp_path):
    """Beam search through `RolloutWorker.search` (cells in the sandbox workers): width 2, branching on
    both turns, so a branched beam replays its parent's cell in a new sandbox session."""
    index, model = pipeline_artifacts
    overrides = [f"corpus.synthetic_entities={ENTITIES}", f"corpus.index_dir={index}", f"model.path={model}",
                 "rollout.max_turns=2", "rollout.max_new_tokens=24", "rollout.concurrency=4",
                 "sandbox.containers_per_worker=2", "sandbox.burst_containers=2", f"train.output_dir={tmp_path}"]
    args = ["eval", "--config", "configs/tiny-cpu.yaml"] + [x for o in overrides for x in ("--set", o)]
    assert rlsys_main(args + ["--search", "beam", "--width", "2", "--depth", "2", "--limit", "2",
                              "--run-dir", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "eval" / "base-beam-w2-d2.json").read_text())
    budget = record["extra"]["budget"]
    assert (budget["search"], budget["width"], budget["depth"], budget["questions"]) == ("beam", 2, 2, 2)
    assert budget["lost"] == 0
    # per question: 2 candidates on turn 0, then 2 per beam still alive (at most 2) on the last turn
    assert 2 * 2 <= budget["candidates"] <= 2 * (2 + 2 * 2)
    assert 2 <= budget["episodes"] <= budget["candidates"]
    assert budget["generated_tokens"] > 0 and budget["sandbox_cells"] >= budget["replayed_cells"]
    assert all("-beam-" in e["episode_id"] for e in record["episodes"])
    assert record["summary"]["episodes"] == 2 and len(record["episodes"]) == 2
