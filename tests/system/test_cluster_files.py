"""The cluster and deploy files: they parse, Ray's own validators accept them, the node types
can host the controller's placement bundles, and every documented `--set` is a real config key."""

from __future__ import annotations

import copy
import json
import re
import shlex
import zipfile
from pathlib import Path

import pytest
import yaml

from rlsys.actors.placement import plan_placement
from rlsys.config import load_config
from rlsys.paths import REPO_ROOT

CLUSTER = REPO_ROOT / "cluster"
PRESET = "configs/qwen3-4b-cluster.yaml"
ROLE_LABELS = {"rollout", "sandbox", "judge", "learner", "corpus"}


def _yaml(path: Path):
    return yaml.safe_load(path.read_text())


def _fits(bundle: dict[str, float], resources: dict[str, float], count: int = 1) -> bool:
    return all(resources.get(key, 0) >= amount * count for key, amount in bundle.items())


def _launcher_node_types() -> dict[str, dict[str, float]]:
    config = _yaml(CLUSTER / "cluster.yaml")
    return {name: spec["resources"] for name, spec in config["available_node_types"].items()}


def test_cluster_launcher_config_passes_rays_validation():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _yaml(CLUSTER / "cluster.yaml")
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` runs first
    assert config["provider"]["type"] in {"aws", "gcp"}
    advertised = {key for res in _launcher_node_types().values() for key in res}
    assert ROLE_LABELS <= advertised


@pytest.mark.parametrize("overrides", [[], ["learner.gpus=4", "rollout.replicas=8", "sandbox.workers=16"]])
def test_every_placement_bundle_has_a_node_type(overrides):
    cfg = load_config(PRESET, overrides)
    node_types = _launcher_node_types()
    for role, plan in plan_placement(cfg).items():
        bundle = plan.bundle()
        packed = plan.replicas if plan.strategy == "STRICT_PACK" else 1
        hosts = [name for name, res in node_types.items() if _fits(bundle, res, packed)]
        assert hosts, f"no node type in cluster.yaml can host {packed} x {bundle} for {role}"


def _start_params_resources(group: dict) -> dict[str, int]:
    raw = group["rayStartParams"].get("resources")
    return json.loads(json.loads(raw)) if raw else {}  # KubeRay's '"{\"x\": 1}"' form


def test_rayjob_manifest():
    from ray.runtime_env import RuntimeEnv

    job = _yaml(CLUSTER / "rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:5] == ["python", "-m", "rlsys.train", "--config", PRESET]
    overrides = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
    load_config(REPO_ROOT / PRESET, overrides)  # every override is a real key with a valid value
    spec = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert spec["working_dir"] == "/opt/rlsys"  # where the trainer image holds the repo
    env = RuntimeEnv(**{**spec, "working_dir": str(REPO_ROOT)})  # validated here with the repo standing in
    assert env["env_vars"]["OMP_NUM_THREADS"] == "1"
    dockerfile = (REPO_ROOT / "deploy" / "trainer" / "Dockerfile").read_text()
    assert "WORKDIR /opt/rlsys" in dockerfile

    cluster = job["spec"]["rayClusterSpec"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    labels = {k for g in groups.values() for k in _start_params_resources(g)}
    labels |= set(_start_params_resources(cluster["headGroupSpec"]))
    assert ROLE_LABELS <= labels
    learner = next(g for g in groups.values() if "learner" in _start_params_resources(g))
    gpus = int(learner["rayStartParams"]["num-gpus"])
    assert gpus >= load_config(REPO_ROOT / PRESET).learner.gpus
    limits = learner["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) == gpus
    for group in groups.values():
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_runtime_env_excludes_keep_the_package_small(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # working_dir "." is the repo root, as in the documented command
    from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE, create_package
    from ray.runtime_env import RuntimeEnv

    spec = _yaml(CLUSTER / "runtime_env.yaml")
    env = RuntimeEnv(**spec)
    assert env["env_vars"]["OMP_NUM_THREADS"] == "1"
    for needed in (".venv/", "artifacts/", "runs/", ".git/"):
        assert needed in spec["excludes"]
    # Package the repo exactly as `ray job submit --working-dir .` would, ignoring .gitignore,
    # so the excludes alone must keep the virtualenv and build outputs out.
    package = tmp_path / "pkg.zip"
    create_package(str(REPO_ROOT), package, include_gitignore=False, excludes=spec["excludes"])
    names = zipfile.ZipFile(package).namelist()
    assert "rlsys/train.py" in names or "rlsys/cli.py" in names
    assert not [n for n in names if n.split("/")[0] in {".venv", "artifacts", "runs", ".git"}]
    assert package.stat().st_size < GCS_STORAGE_MAX_SIZE // 4


def _documented_commands(path: Path) -> list[list[str]]:
    """Shell commands in the markdown's fenced bash blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split(" #")[0].strip()
            if command and not command.startswith("#"):
                commands.append(shlex.split(command))
    return commands


@pytest.mark.parametrize("doc", ["cluster/README.md", "deploy/README.md"])
def test_documented_overrides_are_real_config_keys(doc):
    checked = 0
    for argv in _documented_commands(REPO_ROOT / doc):
        if "--config" not in argv:
            continue
        preset = argv[argv.index("--config") + 1]
        overrides = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
        load_config(REPO_ROOT / preset, overrides)
        checked += 1
    assert checked >= 1


def test_readme_documents_the_job_submit_command():
    submits = [a for a in _documented_commands(CLUSTER / "README.md") if a[:3] == ["ray", "job", "submit"]]
    main = submits[0]
    assert "--address" in main and main[main.index("--working-dir") + 1] == "."
    assert main[main.index("--runtime-env") + 1] == "cluster/runtime_env.yaml"
    dash = main.index("--")
    assert main[dash + 1 : dash + 6] == ["python", "-m", "rlsys.train", "--config", PRESET]


def test_trainer_dockerfile():
    text = (REPO_ROOT / "deploy" / "trainer" / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert instructions[:2] == ["ARG", "FROM"] or instructions[0] == "FROM"
    assert re.search(r"^FROM \$\{CUDA_IMAGE\}", text, flags=re.M) and "nvidia/cuda:" in text
    assert "python3.11" in text and "TORCH_VERSION=2.13.0" in text
    assert re.search(r'pip install --constraint \S+ "\.\[gpu\]"', text)
    assert 'ENTRYPOINT ["tini", "--", "python", "-m", "rlsys.train"]' in text
    for copied in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (REPO_ROOT / copied).exists(), f"Dockerfile copies {copied}, which is not in the repo"
