"""Shared fixtures of the pipeline tests: a small synthetic index, a nano model, a local Ray."""

from __future__ import annotations

import pytest

from rlsys.config import Config, load_config

ENTITIES = 60


@pytest.fixture(scope="session")
def pipeline_artifacts(tmp_path_factory):
    """(index_dir, model_dir) built once per session at test scale."""
    from rlsys.corpus.index import ensure_index
    from rlsys.rollout.tiny_model import build_tiny_model, default_texts

    root = tmp_path_factory.mktemp("pipeline")
    base = load_config("configs/tiny-cpu.yaml", [f"corpus.synthetic_entities={ENTITIES}", f"corpus.index_dir={root / 'index'}"])
    index = ensure_index(base.corpus)
    model = build_tiny_model(root / "model", default_texts(ENTITIES), size="nano")
    return index, model


@pytest.fixture(scope="session")
def make_config(pipeline_artifacts):
    """`make_config(run_dir, "key=value", ...)`: the tiny preset at test scale."""
    return lambda run_dir, *overrides: pipeline_config(pipeline_artifacts, run_dir, *overrides)


def pipeline_config(artifacts, run_dir, *overrides: str) -> Config:
    index, model = artifacts
    return load_config(
        "configs/tiny-cpu.yaml",
        [
            f"corpus.synthetic_entities={ENTITIES}", f"corpus.index_dir={index}", f"model.path={model}",
            "rollout.group_size=4", "rollout.max_turns=2", "rollout.max_new_tokens=32", "rollout.concurrency=8",
            "sandbox.containers_per_worker=2", "sandbox.burst_containers=4",
            "train.questions_per_step=2", "train.eval_questions=4", "train.eval_every=0", "train.checkpoint_every=1",
            "train.informative_groups=0",  # a step is its questions_per_step groups unless a test turns it on
            # as these tests were measured (the demo preset since moved to bwrap, 1/0 rewards and greedy
            # evals): the Docker sandbox end to end, and an unanswered episode below a wrong answer, so
            # a group of a weak policy has reward variance
            "sandbox.backend=docker", "judge.binary_gave_up_reward=-0.5", "judge.missing_answer_reward=-0.5",
            "train.eval_greedy=false",
            f"train.output_dir={run_dir}", *overrides,
        ],
    )


@pytest.fixture
def local_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def sft_adapter(pipeline_artifacts, make_config, tmp_path_factory):
    """A nano policy SFT'd on scripted-expert trajectories (run through the real sandbox), built
    once for the pipeline tests that start from it (read-only: controllers load it as their
    initial adapter)."""
    from rlsys.base_model import ensure_base_model
    from rlsys.demo import expert_trajectories, run_sft

    root = tmp_path_factory.mktemp("sft")
    overrides = ["sft.expert_questions=120", "sft.epochs=6", "sft.batch_size=8", "sft.micro_batch=8"]
    cfg = make_config(root / "run", *overrides)
    # the base is pretrained before SFT (as in the demo): otherwise the first controller's setup
    # pretrains it in place and the adapter ends up on a base it was not trained on
    ensure_base_model(cfg)
    stats = expert_trajectories(cfg, root / "data")
    assert stats["kept"] >= 60, stats
    index, model = pipeline_artifacts
    run_sft(None, [f"model.path={model}", f"corpus.index_dir={index}", "rollout.max_turns=2", *overrides],
            root / "data", root / "sft")
    return root / "sft" / "adapter"
