"""One checkpoint layer: `<run>/checkpoints/step-000012/`, learner and controller state together.

The learner writes the checkpoint (`rlsys.learner.checkpoint`: adapter, optimizer, scheduler,
RNG, `state.json`, and last a `manifest.json` with the sha256 of every file), named by the
controller's step; the controller's own state (step, question-sampler cursor, policy version)
travels in `state.json`'s `data_state`, so it is covered by the same manifest. The newest
`learner.checkpoint_keep` complete checkpoints are kept. Resume takes the newest checkpoint
that verifies; a corrupt or partial newest one is skipped (with a warning) for the one before.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from rlsys.controller.deadlines import get_ranks

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


def checkpoint_root(run_dir: Path) -> Path:
    return Path(run_dir) / CHECKPOINTS


def save(system: Any, run_dir: Path, step: int, controller_state: dict[str, Any], config: dict[str, Any],
         timeout_s: float) -> Path:
    """Writes `step-<step>` (atomic, verified) through learner rank 0; prunes to `learner.checkpoint_keep`.
    Every rank is called: under DeepSpeed the save gathers the partitioned optimizer state (rank 0 writes)."""
    refs = [rank.save_checkpoint.remote(str(checkpoint_root(run_dir)), controller_state, config, step)
            for rank in system.learners]
    path = Path(get_ranks(refs, timeout_s, "the checkpoint write", "train.learn_timeout_s")[0])
    log.info("checkpoint written: %s", path)
    return path


def latest(run_dir: Path) -> Path | None:
    """The newest complete, checksum-verified checkpoint of the run (corrupt ones skipped)."""
    from rlsys.learner.checkpoint import latest_checkpoint

    return latest_checkpoint(checkpoint_root(run_dir))


def restore(system: Any, path: Path, timeout_s: float) -> dict[str, Any]:
    """Loads `path` into every learner rank; returns the controller state stored with it."""
    states = get_ranks([rank.load_checkpoint.remote(str(path)) for rank in system.learners], timeout_s,
                       "loading the checkpoint", "train.setup_timeout_s")
    state = states[0]
    data = dict(state["data_state"])
    data.setdefault("step", state["step"])
    data["policy_version"] = state["version"]
    return data
