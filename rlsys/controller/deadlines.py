"""Every remote wait of the controller with a deadline, and an error that names the key to raise.

    get(refs, cfg.train.learn_timeout_s, "the learner's GRPO step", "train.learn_timeout_s")
"""

from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import GetTimeoutError


class DeadlineExceeded(TimeoutError):
    """A remote call did not answer in time; the message names the config key of its deadline."""


def get(refs: Any, timeout_s: float, what: str, key: str) -> Any:
    """`ray.get(refs)` within `timeout_s`, else `DeadlineExceeded` saying what and which key."""
    try:
        return ray.get(refs, timeout=timeout_s)
    except GetTimeoutError as err:
        raise DeadlineExceeded(f"{what} did not finish within {timeout_s:g} s (raise {key} if it needs longer)") from err
