"""Weight sync, one protocol: which adapter version every rollout worker holds, and getting it there.

Policy versions: -1 (`NO_ADAPTER`) is a worker that holds no adapter (a fresh or restarted
actor: it would generate from the base model); 0 is the initial adapter (the SFT adapter, or
the learner's freshly initialised LoRA, which equals the base model); v > 0 is the adapter after
v optimizer steps. The learner's adapter is exported once per version and put in the object
store; `publish()` loads it into every worker; `sync()` into those behind it (a worker restarted
by Ray). Every launched group also carries `(version, [ref])` (`launch_arg()`): a worker whose
adapter is older loads it before its first episode, so no episode runs on a stale or missing
adapter, whenever the worker (re)started. Each trajectory records the version that produced it.
"""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from rlsys.controller.deadlines import get

log = logging.getLogger(__name__)

NO_ADAPTER = -1


class WeightSync:
    def __init__(self, system: Any, timeout_s: float):
        self.system = system
        self.timeout_s = timeout_s
        self.current: tuple[int, Any] | None = None  # (version, object ref of the LoRA tensors)

    @property
    def version(self) -> int:
        """The version rollout workers are given (`NO_ADAPTER` before the first publish)."""
        return self.current[0] if self.current else NO_ADAPTER

    def launch_arg(self) -> tuple[int, list[Any]] | None:
        """What a `generate_group` call carries: the current version and its tensors' ref (in a
        list, so Ray hands the worker the ref and it fetches the tensors only when behind)."""
        return (self.current[0], [self.current[1]]) if self.current else None

    def publish(self) -> int:
        """Exports the learner's adapter if its version moved and loads it into every worker
        (only into workers behind it when the version did not change, e.g. a skipped step)."""
        learner = self.system.learners[0]
        version = get(learner.version.remote(), self.timeout_s, "the learner's version", "train.push_timeout_s")
        if self.current is None or self.current[0] != version:
            version, tensors = get(learner.export_adapter.remote(), self.timeout_s, "the adapter export",
                                   "train.push_timeout_s")
            self.current = (version, ray.put(tensors))
        self.sync()
        return version

    def worker_versions(self) -> list[int]:
        """Each rollout worker's adapter version (`NO_ADAPTER` for one that is down or restarting)."""
        versions = []
        for worker in self.system.rollout:
            try:
                versions.append(int(ray.get(worker.policy_version.remote(), timeout=self.timeout_s)))
            except (RayActorError, GetTimeoutError):
                versions.append(NO_ADAPTER)
        return versions

    def sync(self) -> None:
        """Loads the current adapter into every worker that holds an older one (or none)."""
        if self.current is None:
            return
        version, tensors_ref = self.current
        pending = [
            worker.load_adapter.remote(version, tensors_ref)
            for worker, held in zip(self.system.rollout, self.worker_versions())
            if held < version
        ]
        for ref in pending:
            try:
                ray.get(ref, timeout=self.timeout_s)
            except (RayActorError, GetTimeoutError) as err:
                # a worker down now gets the adapter with its next group (`launch_arg`)
                log.warning("rollout worker missed adapter v%d (%s); it loads it before its next group",
                            version, type(err).__name__)
