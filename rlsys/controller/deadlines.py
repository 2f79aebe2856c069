"""Every remote wait of the controller with a deadline, and an error that names the key to raise.

    get(refs, cfg.train.learn_timeout_s, "the learner's GRPO step", "train.learn_timeout_s")
    get_ranks(refs, cfg.train.learn_timeout_s, "the learner's GRPO step", "train.learn_timeout_s")

`get_ranks` waits on one call per learner rank and fails as soon as one rank's call fails: under
DeepSpeed the other ranks then wait in a collective for a peer that is gone, and waiting for them
would only run into the deadline. The error names the rank and how to go on (`--resume`).
"""

from __future__ import annotations

import time
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError


class DeadlineExceeded(TimeoutError):
    """A remote call did not answer in time; the message names the config key of its deadline."""


class LearnerRankLost(RuntimeError):
    """A learner rank died (or its call failed) during a collective call: the run cannot go on."""


def get(refs: Any, timeout_s: float, what: str, key: str) -> Any:
    """`ray.get(refs)` within `timeout_s`, else `DeadlineExceeded` saying what and which key."""
    try:
        return ray.get(refs, timeout=timeout_s)
    except GetTimeoutError as err:
        raise DeadlineExceeded(f"{what} did not finish within {timeout_s:g} s (raise {key} if it needs longer)") from err


def get_ranks(refs: list[Any], timeout_s: float, what: str, key: str) -> list[Any]:
    """The results of one call per learner rank, within `timeout_s` for all of them.

    A rank whose call fails raises `LearnerRankLost` without waiting for the others' deadline: the
    others get `FAILURE_GRACE_S` more to fail too (a peer's death often surfaces first as a broken
    collective in a live rank), then every failed rank is named, dead ranks first. Ranks that do
    not answer by the deadline raise `DeadlineExceeded` (naming them and `key`)."""
    pending = list(refs)
    deadline = time.monotonic() + timeout_s
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            late = [rank for rank, ref in enumerate(refs) if ref in pending]
            raise DeadlineExceeded(f"{what}: learner rank(s) {late} of {len(refs)} did not answer within "
                                   f"{timeout_s:g} s (raise {key} if it needs longer)")
        done, pending = ray.wait(pending, num_returns=1, timeout=left)
        if any(_error(ref) is not None for ref in done):
            if pending:
                ray.wait(pending, num_returns=len(pending), timeout=max(0.0, min(FAILURE_GRACE_S, left)))
            raise _rank_lost(refs, what)
    return ray.get(list(refs), timeout=0)


FAILURE_GRACE_S = 60.0


def _error(ref: Any) -> RayError | None:
    ready, _ = ray.wait([ref], timeout=0)
    if not ready:
        return None
    try:
        ray.get(ref, timeout=0)
    except RayError as err:
        return err
    return None


def _rank_lost(refs: list[Any], what: str) -> LearnerRankLost:
    failed = [(rank, err) for rank, ref in enumerate(refs) if (err := _error(ref)) is not None]
    failed.sort(key=lambda pair: not isinstance(pair[1], RayActorError))  # dead ranks first
    parts = []
    for rank, err in failed:
        cause = "died" if isinstance(err, RayActorError) else "failed"
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        parts.append(f"learner rank {rank} of {len(refs)} {cause} during {what} ({type(err).__name__}: {first})")
    error = LearnerRankLost("; ".join(parts) + ". The run stops; start it again with --resume to continue "
                            "from its last checkpoint")
    error.__cause__ = failed[0][1]
    return error
