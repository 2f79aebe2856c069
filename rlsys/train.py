"""The single controller: Ray actors, the GRPO loop, the weight push, eval, metrics, checkpoints.

    rlsys train --config configs/tiny-cpu.yaml [--set key=value ...] [--resume] [--init-adapter DIR]
    python -m rlsys.train --config configs/qwen3-4b-cluster.yaml      # what `ray job submit` runs

One step: sample questions -> one rollout group (K episodes) per question on the rollout
workers -> each group judged as soon as it finishes -> rewards -> the learner's GRPO step ->
adapter v+1 pushed to every rollout worker. With `train.max_staleness >= 1` the generation of
step t+1 is launched before the learner's step t (bounded staleness, enforced by the learner
through policy versions); `max_staleness: 0` is fully synchronous.

The controller is the only place besides `rlsys/actors` that knows about Ray; what it does per
step (sampling, reward bookkeeping, metrics) is plain Python in `rlsys/step_results.py`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rlsys.config import Config, add_config_arguments, config_from_args
from rlsys.corpus.types import Question
from rlsys.question_sampler import QuestionSampler
from rlsys.step_results import lost_as_infra_errors, step_summary

log = logging.getLogger("rlsys.train")

CONTROLLER_STATE = "controller.json"


class Controller:
    """Owns the actors and the schedule. `run()` trains; `evaluate()` scores a split."""

    def __init__(self, cfg: Config, run_dir: str | Path, init_adapter: str | None = None, resume: bool = False):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.init_adapter = init_adapter
        self.resume = resume
        self.step = 0
        self.system = None
        self.metrics = None
        self.train_questions: list[Question] = []
        self.test_questions: list[Question] = []
        self.sampler: QuestionSampler | None = None
        self.pending = None  # the step launched ahead of the learner (async), if any

    # ---- setup ---------------------------------------------------------------------------

    def setup(self, push: bool = True) -> None:
        """Creates the actors (restoring the last checkpoint with `resume`); `push=False` leaves
        the rollout workers on the base model until the first `system.push_adapter()`."""
        from rlsys.actors.system import System
        from rlsys.metrics import MetricsWriter

        if self.cfg.train.mode == "collocated":
            check_collocated_memory(self.cfg)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(json.dumps(self.cfg.model_dump(mode="json"), indent=2))
        self.train_questions, self.test_questions = load_questions(self.cfg)
        if self.cfg.train.mode != "cluster":
            # one machine: build what the actors share once, here, before they start
            from rlsys.base_model import ensure_base_model
            from rlsys.corpus.index import ensure_index

            ensure_index(self.cfg.corpus, progress=True)
            ensure_base_model(self.cfg)
        self.system = System.start(self.cfg, init_adapter=self.init_adapter)
        checkpoint = self._latest_checkpoint() if self.resume else None
        cursor = 0
        if checkpoint is not None:
            state = json.loads((checkpoint / CONTROLLER_STATE).read_text())
            self.system.load_learner_checkpoint(checkpoint / "learner")
            self.step, cursor = state["step"], state["sampler_cursor"]
            log.info("resumed from %s: step %d, policy version %d", checkpoint, self.step, self.system.version)
        elif self.resume:
            log.info("--resume given but %s has no checkpoint; starting from step 0", self.run_dir)
        self.metrics = MetricsWriter(self.run_dir, wandb_project=self.cfg.train.wandb_project, resume_step=self.step)
        self.sampler = QuestionSampler(self.train_questions, seed=self.cfg.train.seed, cursor=cursor)
        if push:
            self.system.push_adapter()

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from rlsys.progress import step_progress

        cfg = self.cfg.train
        staleness = cfg.max_staleness
        self.pending = pending = None  # (step, questions, in-flight generation) launched ahead of the learner
        last: dict[str, Any] = {}
        with step_progress(cfg.steps, start=self.step, description="GRPO") as advance:
            while self.step < cfg.steps:
                if pending is None or pending[0] != self.step:
                    pending = self._launch(self.step)
                step, questions, flight = pending
                t0 = time.perf_counter()
                outcomes = flight.collect()
                t_collect = time.perf_counter() - t0
                pending = None
                # Bounded staleness: the next step's rollouts are generated with the current
                # policy while the learner trains on this step's (one version behind).
                if staleness >= 1 and step + 1 < cfg.steps:
                    pending = self._launch(step + 1)
                self.pending = pending
                t1 = time.perf_counter()
                trained_at = self.system.version
                learn = self.system.learn([o.trajectories for o in outcomes])
                t_learn = time.perf_counter() - t1
                t2 = time.perf_counter()
                self.system.push_adapter()
                t_push = time.perf_counter() - t2
                self.step = step + 1
                summary = step_summary(outcomes, learn, trained_at)
                summary.update(
                    wait_rollouts_s=t_collect, learn_s=t_learn, push_s=t_push,
                    generate_s=flight.generate_s, judge_s=flight.judge_s, sandbox_s=flight.sandbox_s,
                    step_s=time.perf_counter() - t0, questions=len(questions),
                )
                self.metrics.log(self.step, summary, stage="rl")
                last = summary
                advance(f"reward {summary['reward_mean']:+.3f}  acc {summary['accuracy']:.2f}")
                if cfg.eval_every and self.step % cfg.eval_every == 0 and self.step < cfg.steps:
                    self.evaluate(stage=f"rl-step{self.step}", step=self.step)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.checkpoint()
        if pending is not None:
            pending[2].cancel()
        self.pending = None
        self.checkpoint()
        self.system.save_adapter(self.run_dir / "adapter")
        if self.cfg.train.mode == "cluster":  # where each replica ran (Ray state API) and its adapter version
            from rlsys.actors.placement_report import write_placement

            write_placement(self.run_dir / "placement.json", self.system)
        return last

    def _launch(self, step: int):
        """Starts the rollout groups of `step` (questions drawn in step order, resume-safe)."""
        questions = self.sampler.take(self.cfg.train.questions_per_step)
        return step, questions, self.system.launch_groups(questions, seed=self.cfg.train.seed * 100_003 + step)

    # ---- eval and checkpoints ----------------------------------------------------------------

    def evaluate(self, stage: str, step: int | None = None, questions: list[Question] | None = None) -> dict[str, Any]:
        """One rollout per held-out question at the lowest temperature; writes `eval/<stage>.json`."""
        from rlsys.report.eval_files import summarise_eval, write_eval

        questions = questions or self.test_questions[: self.cfg.train.eval_questions]
        flight = self.system.launch_groups(questions, seed=12345, k=1, temperature=self.cfg.rollout.temperature_min)
        outcomes = flight.collect()
        trajectories, verdicts = lost_as_infra_errors(outcomes)
        summary = summarise_eval(trajectories, verdicts)
        write_eval(self.run_dir, stage, trajectories, verdicts, step=step, extra={"generate_s": flight.generate_s})
        figures = {f"eval_{k}": v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.metrics.log(step if step is not None else self.step, figures, stage="eval")
        log.info("eval %s: accuracy %.3f over %d questions", stage, summary["accuracy"], len(questions))
        return summary

    def _checkpoint_root(self) -> Path:
        return self.run_dir / "checkpoints"

    def _latest_checkpoint(self) -> Path | None:
        root = self._checkpoint_root()
        done = sorted(p for p in root.glob("step_*") if (p / CONTROLLER_STATE).is_file()) if root.is_dir() else []
        return done[-1] if done else None

    def checkpoint(self) -> Path:
        """Learner state + controller state, written to a temp dir and renamed (atomic)."""
        root = self._checkpoint_root()
        final = root / f"step_{self.step:06d}"
        if final.exists():
            return final
        tmp = root / f".tmp_step_{self.step:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.system.save_learner_checkpoint(tmp / "learner")
        # questions of a step launched ahead of the learner are handed out again after a resume
        ahead = len(self.pending[1]) if self.pending else 0
        state = {"step": self.step, "sampler_cursor": self.sampler.cursor - ahead, "policy_version": self.system.version}
        (tmp / CONTROLLER_STATE).write_text(json.dumps(state))
        os.replace(tmp, final)
        for old in sorted(root.glob("step_*"))[:-2]:  # keep the last two
            shutil.rmtree(old, ignore_errors=True)
        log.info("checkpoint written: %s", final)
        return final

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.system is not None:
            self.system.shutdown()


def check_collocated_memory(cfg: Config) -> None:
    """Prints the one-GPU memory plan (generate / judge / learn) and refuses to start when a
    phase cannot fit, naming what to change."""
    import torch

    from rlsys.memory_plan import plan_memory

    if not torch.cuda.is_available():
        raise RuntimeError("train.mode=collocated shares one CUDA GPU between all actors, and none is visible; "
                           "use train.mode=local on a CPU machine")
    gpu_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
    plan = plan_memory(cfg, gpu_gb)
    print(plan.render())
    plan.check()


def load_questions(cfg: Config) -> tuple[list[Question], list[Question]]:
    """Train and held-out questions of the configured corpus."""
    from rlsys.corpus.loaders import load_questions as load, questions_source_for

    source = questions_source_for(cfg.corpus.source, cfg.corpus.questions)
    questions = load(source, synthetic_entities=cfg.corpus.synthetic_entities, seed=cfg.corpus.seed)
    train = [q for q in questions if q.split == "train"]
    test = [q for q in questions if q.split != "train"]
    if not train or not test:
        raise ValueError(f"{source}: need both training and held-out questions (got {len(train)} / {len(test)})")
    return train, test


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the run dir's last checkpoint")
    parser.add_argument("--init-adapter", default=None, help="start the policy from this LoRA adapter (e.g. SFT)")
    parser.add_argument("--run-dir", default=None, help="run directory (default: train.output_dir)")
    parser.add_argument("--eval-before", action="store_true", help="evaluate the starting policy first")


def run_training(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    run_dir = Path(args.run_dir or cfg.train.output_dir)
    controller = Controller(cfg, run_dir, init_adapter=args.init_adapter, resume=args.resume)
    try:
        controller.setup()
        if args.eval_before and controller.step == 0:
            controller.evaluate(stage="sft" if args.init_adapter else "base", step=0)
        controller.run()
        controller.evaluate(stage="rl", step=controller.step)
    finally:
        controller.close()
    print(f"training finished: {run_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from rlsys.config import ConfigError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m rlsys.train", description=__doc__.split("\n")[0])
    add_train_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_training(args)
    except ConfigError as err:
        print(f"rlsys: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
