"""The one typed config tree of rlsys, read from a YAML preset with dotted overrides.

    cfg = load_config("configs/tiny-cpu.yaml", ["rollout.group_size=8", "learner.lr=1e-4"])

Unknown keys and wrong types raise `ConfigError` naming the offending key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from rlsys.actors.placement_config import ClusterConfig
from rlsys.config_base import Section
from rlsys.corpus.config import CorpusConfig
from rlsys.judge.config import JudgeConfig
from rlsys.learner.config import LearnerConfig, SFTConfig
from rlsys.rollout.config import ModelConfig, RolloutConfig
from rlsys.sandbox.config import SandboxConfig

DEFAULT_PRESET = "configs/tiny-cpu.yaml"


class TrainConfig(Section):
    mode: Literal["local", "collocated", "cluster"] = "local"
    """Placement: `local` (Ray on this machine, CPU), `collocated` (one GPU shared by all actors) or `cluster`."""
    steps: int = 20
    """GRPO steps."""
    questions_per_step: int = 2
    """Questions per GRPO step (each gets `rollout.group_size` rollouts)."""
    max_staleness: int = 1
    """Policy versions a rollout may lag the learner; 0 is fully synchronous."""
    eval_every: int = 10
    """Evaluate on the held-out split every N steps (0 = only at the end)."""
    eval_questions: int = 32
    """Held-out questions per evaluation."""
    checkpoint_every: int = 10
    """Write a checkpoint every N steps."""
    output_dir: str = "runs/latest"
    """Run directory: metrics, checkpoints, adapters, plots."""
    seed: int = 0
    """Global seed."""
    ray_address: str | None = None
    """Ray address to join (`auto` for a running cluster); None starts a local instance."""
    wandb_project: str | None = None
    """Log metrics to this Weights & Biases project as well (needs the `wandb` extra)."""


class Config(Section):
    """The root of the config tree."""

    model: ModelConfig = ModelConfig()
    """The policy's base model."""
    corpus: CorpusConfig = CorpusConfig()
    """Corpus, index and search."""
    sandbox: SandboxConfig = SandboxConfig()
    """Code execution sandbox pool."""
    rollout: RolloutConfig = RolloutConfig()
    """Generation of rollout groups."""
    judge: JudgeConfig = JudgeConfig()
    """Judge and reward."""
    learner: LearnerConfig = LearnerConfig()
    """LoRA GRPO learner."""
    sft: SFTConfig = SFTConfig()
    """Supervised fine-tuning stage."""
    train: TrainConfig = TrainConfig()
    """The controller: schedule, staleness, eval, checkpoints."""
    cluster: ClusterConfig = ClusterConfig()
    """Cluster mode: per-role Ray resources and start-up deadlines."""


class ConfigError(ValueError):
    """A config that cannot be loaded; the message names the file and key."""


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {'.'.join(keys[: depth + 1])!r} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=value` -> ("a.b", parsed value); the value is read as YAML (numbers, lists, null)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid config ({source}):"]
    for item in err.errors():
        key = ".".join(str(p) for p in item["loc"])
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        given = item.get("input")
        shown = "" if item["type"] in ("extra_forbidden", "missing") else f" (got {given!r})"
        lines.append(f"  {key}: {msg}{shown}")
    return "\n".join(lines)


def config_from_dict(tree: dict[str, Any], source: str = "<dict>") -> Config:
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML preset (None: all defaults) and apply `key.path=value` overrides."""
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of sections, not {type(loaded).__name__}")
        tree = loaded
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return config_from_dict(tree, source + (" + overrides" if overrides else ""))


def add_config_arguments(parser: argparse.ArgumentParser, default: str | None = DEFAULT_PRESET) -> None:
    """Adds `--config PATH` and repeatable `--set key.path=value` to a subcommand."""
    parser.add_argument("--config", default=default, help=f"YAML preset (default: {default})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field, e.g. --set rollout.group_size=8 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def iter_fields(model: type[Section] = Config, prefix: str = ""):
    """Yields (dotted key, type, default, description) for every leaf field of the tree."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            yield from iter_fields(annotation, key + ".")
        else:
            type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
            yield key, type_name, field.default, (field.description or "").strip()
