"""`System`: every actor of a run, created from the placement plan.

    system = System.start(cfg, init_adapter="runs/x/sft/adapter")
    system.rollout, system.judges, system.learners, system.sandbox, system.corpus   # actor handles

What the controller does with them (launching groups, the weight push, phases, checkpoints)
lives in `rlsys/controller/`. Fault handling: corpus, sandbox, rollout and judge actors are
restartable (`max_restarts=-1`, no task retries). A call in flight when its actor dies fails;
the affected episodes or groups come back as infrastructure failures (excluded from training,
never scored as wrong) and Ray restarts the actor, which comes back without an adapter (version
-1) and is re-sent the current one before its next group (`rlsys.controller.weight_sync`).

With `engines_one_by_one` (the sequential phase schedule of collocated mode) the engines are
constructed one after another, each put to sleep before the next starts, so no engine profiles
device memory while another one holds it; the learner comes last.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import ray

from rlsys.actors.placement import PlacementGroups, plan_placement
from rlsys.config import Config

log = logging.getLogger(__name__)

RESTARTABLE = {"max_restarts": -1, "max_task_retries": 0}


def init_ray(cfg: Config) -> None:
    """Joins `train.ray_address` (a cluster or `auto`), else the job's cluster (RAY_ADDRESS), else
    starts a local instance of its own."""
    if ray.is_initialized():
        return
    # RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO: Ray >= 2.5x no longer hides GPUs (CUDA_VISIBLE_DEVICES="")
    # from actors that asked for none; without it a CPU actor on a GPU box silently uses CUDA
    env = {"env_vars": {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
                        "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1"}}
    # inside a `ray job submit` job RAY_ADDRESS names the job's cluster
    address = cfg.train.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        # a cluster (or a `ray job submit` job) brings its own runtime env (cluster/runtime_env.yaml);
        # a second one here would conflict with it. Actors limit their own threads.
        ray.init(address=address, log_to_driver=True)
    else:
        # "local": a fresh instance even where another Ray instance runs on this machine
        ray.init(address="local", num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, runtime_env=env,
                 log_to_driver=True)


class System:
    """Corpus, sandbox, rollout, judge and learner actors of one run."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.plan = plan_placement(cfg)
        self.groups = PlacementGroups(self.plan, cfg.cluster.placement_timeout_s)
        self.corpus: list[Any] = []
        self.sandbox: list[Any] = []
        self.rollout: list[Any] = []
        self.judges: list[Any] = []
        self.learners: list[Any] = []  # rank 0 holds the policy; more ranks under DeepSpeed
        self._config_ref = None
        self._slot = 0

    @classmethod
    def start(cls, cfg: Config, init_adapter: str | None = None, engines_one_by_one: bool = False) -> "System":
        init_ray(cfg)
        system = cls(cfg)
        try:
            system._start_actors(init_adapter, engines_one_by_one)
        except BaseException:
            # a start that fails leaves nothing behind: its actors and placement groups would
            # otherwise hold the cluster's resources until the driver exits
            try:
                system.shutdown(timeout_s=30.0)
            except Exception:  # noqa: BLE001 - the start's own error is the one to see
                log.exception("clean-up after the failed start failed")
            raise
        return system

    def _start_actors(self, init_adapter: str | None, engines_one_by_one: bool) -> None:
        from rlsys.actors.corpus_actor import CorpusActor
        from rlsys.actors.judge_actor import JudgeActor
        from rlsys.actors.learner_actor import create_learner_actors
        from rlsys.actors.rollout_worker import RolloutWorker
        from rlsys.actors.sandbox_worker import SandboxWorker
        from rlsys.env.registry import environment_of

        system, cfg = self, self.cfg
        # one object-store copy of the config for every actor, held for the run so that Ray can
        # restart an actor with its constructor arguments
        system._config_ref = data = ray.put(cfg.model_dump())
        opts = system.groups.options
        if environment_of(cfg).uses_sandbox:  # a task without code cells needs neither corpus nor sandboxes
            log.info("starting %d corpus actor(s) (index %s)", cfg.corpus.replicas, cfg.corpus.index_dir)
            system.corpus = [
                # cluster: each node builds the index at corpus.index_dir if it lacks one (a file lock serialises builds)
                CorpusActor.options(**opts("corpus", i), **RESTARTABLE).remote(data, cfg.train.mode == "cluster")
                for i in range(cfg.corpus.replicas)
            ]
            system._wait_started("ready", ("corpus", system.corpus))
            log.info("starting %d sandbox worker(s)", cfg.sandbox.workers)
            system.sandbox = [
                SandboxWorker.options(**opts("sandbox", i), **RESTARTABLE).remote(data, system.corpus)
                for i in range(cfg.sandbox.workers)
            ]

        def rollout_workers() -> list[Any]:
            return [RolloutWorker.options(**opts("rollout", i), **RESTARTABLE).remote(data, system.sandbox)
                    for i in range(cfg.rollout.replicas)]

        def judges() -> list[Any]:
            return [JudgeActor.options(**opts("judge", i), **RESTARTABLE).remote(data)
                    for i in range(system.plan["judge"].replicas)]

        if engines_one_by_one:
            for role, make in (("rollout", rollout_workers), ("judge", judges)):
                actors = make()
                system._wait_started("ready", (role, actors))
                system._wait_started("sleep", (role, actors))  # the engine's first sleep
                setattr(system, "rollout" if role == "rollout" else "judges", actors)
        else:
            system.judges, system.rollout = judges(), rollout_workers()
            system._wait_started("ready", ("judge", system.judges), ("rollout", system.rollout))
        system._wait_started("start", ("sandbox", system.sandbox))
        log.info("starting the learner (%d rank(s))", system.plan["learner"].replicas)
        system.learners = create_learner_actors(cfg, init_adapter, options=lambda rank: opts("learner", rank))
        version = system._wait_started("version", ("learner", system.learners[:1]))[0]
        log.info(
            "actors ready: %d corpus, %d sandbox, %d rollout, %d judge, %d learner (policy version %d)",
            len(system.corpus), len(system.sandbox), len(system.rollout), len(system.judges),
            len(system.learners), version,
        )

    def _wait_started(self, method: str, *groups: tuple[str, list[Any]]) -> list[Any]:
        """Calls `method` on every actor of the `(role, actors)` groups and waits for all within
        `train.setup_timeout_s`; a replica that dies first or misses it fails the start with a
        `StartError` naming the role, what it asks for and Ray's account of it."""
        from rlsys.actors.start_wait import wait_started

        calls = [(role, i, actor, getattr(actor, method).remote()) for role, actors in groups
                 for i, actor in enumerate(actors)]
        return wait_started(calls, self.cfg.train.setup_timeout_s, self.plan)

    def next_slot(self) -> int:
        """A round-robin counter over the rollout workers and judges."""
        slot = self._slot
        self._slot += 1
        return slot

    def shutdown(self, timeout_s: float = 60.0) -> None:
        """Sandbox workers remove their containers / bwrap trees first (a killed worker's stopped
        containers would stay until the next worker on the host starts), then every actor is killed."""
        if self.sandbox:  # every live worker finishes its clean-up even when another one is dead
            refs = [w.shutdown.remote() for w in self.sandbox]
            done, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
            failed = len(pending)
            for ref in done:
                try:
                    ray.get(ref, timeout=0)
                except Exception:  # noqa: BLE001 - a dead worker: killed below all the same
                    failed += 1
            if failed:
                log.warning("%d of %d sandbox workers did not shut down cleanly; killing them", failed, len(refs))
        for actor in self.rollout + self.sandbox + self.judges + self.corpus + self.learners:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.groups.remove()
