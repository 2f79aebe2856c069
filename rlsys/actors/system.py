"""`System`: every actor of a run, created from the placement plan, and what the controller asks of them.

    system = System.start(cfg, init_adapter="runs/x/sft/adapter")
    flight = system.launch_groups(questions, seed=7)     # rollouts start; each group is judged
    outcomes = flight.collect()                          #   as soon as it finishes
    metrics = system.learn([o.trajectories for o in outcomes])
    system.push_adapter()                                # adapter v+1 -> every rollout worker

Fault handling: corpus, sandbox, rollout and judge actors are restartable (`max_restarts=-1`,
no task retries). A call in flight when its actor dies fails; the affected episodes or groups
come back as infrastructure failures (excluded from training, never scored as wrong) and Ray
restarts the actor. A restarted rollout worker has lost its adapter: `push_adapter` and
`launch_groups` re-send the current one to any worker whose version is behind.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from rlsys.actors.placement import PlacementGroups, plan_placement
from rlsys.config import Config
from rlsys.corpus.types import Question
from rlsys.judge.reward import reward
from rlsys.judge.types import Category, Verdict
from rlsys.step_results import GroupOutcome

log = logging.getLogger(__name__)

RESTARTABLE = {"max_restarts": -1, "max_task_retries": 0}
ACTOR_LOST = (RayActorError,)


def init_ray(cfg: Config) -> None:
    """Joins `train.ray_address` (a cluster or `auto`), else the job's cluster (RAY_ADDRESS), else
    starts a local instance of its own."""
    if ray.is_initialized():
        return
    env = {"env_vars": {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}}
    # inside a `ray job submit` job RAY_ADDRESS names the job's cluster
    address = cfg.train.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        # a cluster (or a `ray job submit` job) brings its own runtime env (cluster/runtime_env.yaml);
        # a second one here would conflict with it. Actors limit their own threads.
        ray.init(address=address, log_to_driver=True)
    else:
        # "local": a fresh instance even where another Ray instance runs on this machine
        ray.init(address="local", num_cpus=max(2, _cpu_count()), include_dashboard=False, runtime_env=env, log_to_driver=True)


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 2


@dataclass
class Flight:
    """Rollout groups in flight: per question, the ref of its trajectories and of their verdicts."""

    system: "System"
    questions: list[Question]
    refs: list[tuple[Any, Any]]
    started: float = field(default_factory=time.perf_counter)
    generate_s: float = 0.0
    judge_s: float = 0.0
    sandbox_s: float = 0.0

    def _wait_all(self, timeout_s: float | None) -> dict[Any, float]:
        """Seconds since launch at which each ref became ready (the phase split of a step)."""
        ready_at: dict[Any, float] = {}
        pending = [ref for pair in self.refs for ref in pair]
        deadline = None if timeout_s is None else time.perf_counter() + timeout_s
        while pending:
            left = None if deadline is None else max(0.0, deadline - time.perf_counter())
            done, pending = ray.wait(pending, num_returns=1, timeout=left)
            if not done:
                break  # timed out: ray.get below reports what is missing
            for ref in done:
                ready_at[ref] = time.perf_counter() - self.started
        return ready_at

    def collect(self, timeout_s: float | None = None) -> list[GroupOutcome]:
        """Waits for every group; lost groups come back with `failure` set instead of raising."""
        ready_at = self._wait_all(timeout_s)
        outcomes = []
        for question, (traj_ref, verdict_ref) in zip(self.questions, self.refs):
            outcome = GroupOutcome(question)
            try:
                outcome.trajectories = ray.get(traj_ref, timeout=0 if timeout_s is not None else None)
            except (RayActorError, GetTimeoutError) as err:
                outcome.failure = "rollout_worker_lost"
                log.warning("rollout group for %s lost (%s); dropped as infra_error", question.id, type(err).__name__)
                outcomes.append(outcome)
                continue
            try:
                outcome.verdicts = ray.get(verdict_ref, timeout=0 if timeout_s is not None else None)
            except (RayActorError, RayTaskError, GetTimeoutError) as err:
                log.warning("judge failed on group %s (%s); its episodes are marked judge_error", question.id, err)
                outcome.verdicts = [Verdict(Category.JUDGE_ERROR, rationale=str(err)[:200]) for _ in outcome.trajectories]
            for traj, verdict in zip(outcome.trajectories, outcome.verdicts):
                traj.reward = reward(verdict, self.system.cfg.judge)
                if verdict.failed:
                    traj.failure = "judge_error"
            outcomes.append(outcome)
        trajectories = [t for o in outcomes for t in o.trajectories]
        traj_ready = [ready_at[t] for t, _ in self.refs if t in ready_at]
        self.generate_s = max(traj_ready, default=0.0)
        # judging overlaps generation: count only the time judging ran past each group's end
        self.judge_s = sum(max(0.0, ready_at[v] - ready_at[t]) for t, v in self.refs if t in ready_at and v in ready_at)
        self.sandbox_s = sum(t.timings.get("sandbox_s", 0.0) for t in trajectories)
        return outcomes

    def cancel(self) -> None:
        for traj_ref, verdict_ref in self.refs:
            for ref in (traj_ref, verdict_ref):
                try:
                    ray.cancel(ref)
                except Exception:  # noqa: BLE001 - best effort: the run is ending
                    pass


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
        self.version = 0
        self._config_ref = None
        self._adapter: tuple[int, Any] | None = None  # (version, object ref of tensors)
        self._next_rollout = 0

    # ---- creation ------------------------------------------------------------------------

    @classmethod
    def start(cls, cfg: Config, init_adapter: str | None = None) -> "System":
        from rlsys.actors.corpus_actor import CorpusActor
        from rlsys.actors.judge_actor import JudgeActor
        from rlsys.actors.learner_actor import create_learner_actors
        from rlsys.actors.rollout_worker import RolloutWorker
        from rlsys.actors.sandbox_worker import SandboxWorker

        init_ray(cfg)
        system = cls(cfg)
        # one object-store copy of the config for every actor, held for the run so that Ray can
        # restart an actor with its constructor arguments
        system._config_ref = data = ray.put(cfg.model_dump())
        opts = system.groups.options
        log.info("starting %d corpus actor(s) (index %s)", cfg.corpus.replicas, cfg.corpus.index_dir)
        system.corpus = [
            # cluster: each node builds the index at corpus.index_dir if it lacks one (a file lock serialises builds)
            CorpusActor.options(**opts("corpus", i), **RESTARTABLE).remote(data, cfg.train.mode == "cluster")
            for i in range(cfg.corpus.replicas)
        ]
        ray.get([a.ready.remote() for a in system.corpus], timeout=1800)
        log.info("starting %d sandbox worker(s)", cfg.sandbox.workers)
        system.sandbox = [
            SandboxWorker.options(**opts("sandbox", i), **RESTARTABLE).remote(data, system.corpus)
            for i in range(cfg.sandbox.workers)
        ]
        system.judges = [
            JudgeActor.options(**opts("judge", i), **RESTARTABLE).remote(data) for i in range(system.plan["judge"].replicas)
        ]
        system.rollout = [
            RolloutWorker.options(**opts("rollout", i), **RESTARTABLE).remote(data, system.sandbox)
            for i in range(cfg.rollout.replicas)
        ]
        ray.get([w.start.remote() for w in system.sandbox], timeout=1800)
        ray.get([a.ready.remote() for a in system.judges + system.rollout], timeout=1800)
        log.info("starting the learner (%d rank(s))", system.plan["learner"].replicas)
        system.learners = create_learner_actors(cfg, init_adapter, options=lambda rank: opts("learner", rank))
        system.version = ray.get(system.learners[0].version.remote())
        log.info(
            "actors ready: %d corpus, %d sandbox, %d rollout, %d judge, %d learner (policy version %d)",
            len(system.corpus), len(system.sandbox), len(system.rollout), len(system.judges),
            len(system.learners), system.version,
        )
        return system

    # ---- rollouts and judging ------------------------------------------------------------

    def launch_groups(
        self, questions: list[Question], seed: int, k: int | None = None, temperature: float | None = None
    ) -> Flight:
        """Starts one group per question (round-robin over rollout workers); each group is
        judged as soon as its episodes finish (the verdict call takes the group's ref)."""
        self._sync_adapters()
        k = k or self.cfg.rollout.group_size
        refs = []
        for question in questions:
            worker = self.rollout[self._next_rollout % len(self.rollout)]
            judge = self.judges[self._next_rollout % len(self.judges)]
            self._next_rollout += 1
            traj_ref = worker.generate_group.remote(question, k, seed, temperature)
            refs.append((traj_ref, judge.score.remote(traj_ref)))
        return Flight(self, list(questions), refs)

    # ---- learning and the weight push ----------------------------------------------------

    def learn(self, groups: list[list[Any]]) -> dict[str, Any]:
        groups_ref = ray.put(groups)
        metrics = ray.get([rank.grpo_step.remote(groups_ref, self.version) for rank in self.learners])[0]
        self.version = int(metrics.get("policy_version", self.version))
        return metrics

    def push_adapter(self) -> None:
        """Exports the learner's adapter once and loads it into every rollout worker (only the
        workers that lack it when the version did not change, e.g. after a skipped step)."""
        current = ray.get(self.learners[0].version.remote())
        if self._adapter is not None and self._adapter[0] == current:
            self._sync_adapters()
            return
        version, tensors = ray.get(self.learners[0].export_adapter.remote())
        self._adapter = (version, ray.put(tensors))
        self.version = version
        self._sync_adapters(force=True)

    def _sync_adapters(self, force: bool = False) -> None:
        if self._adapter is None:
            return
        version, tensors_ref = self._adapter
        pending = []
        for worker in self.rollout:
            try:
                current = ray.get(worker.policy_version.remote(), timeout=600)
            except ACTOR_LOST:
                current = -1  # restarting: it gets the adapter once it is back
            if force or current != version:
                pending.append(worker.load_adapter.remote(version, tensors_ref))
        for ref in pending:
            try:
                ray.get(ref, timeout=600)
            except ACTOR_LOST as err:
                log.warning("rollout worker lost during the weight push (%s); it is re-synced on restart", err)

    # ---- checkpoints -----------------------------------------------------------------------

    def save_learner_checkpoint(self, path: Path) -> None:
        ray.get([rank.save_checkpoint.remote(str(path)) for rank in self.learners])  # collective under DeepSpeed

    def load_learner_checkpoint(self, path: Path) -> None:
        ray.get([rank.load_checkpoint.remote(str(path)) for rank in self.learners])
        self.version = ray.get(self.learners[0].version.remote())

    def save_adapter(self, path: Path) -> None:
        ray.get(self.learners[0].save_adapter.remote(str(path)))

    def shutdown(self) -> None:
        for actor in self.rollout + self.sandbox + self.judges + self.corpus + self.learners:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
