"""The one typed config tree of rlsys, read from a YAML preset with dotted overrides.

    cfg = load_config("configs/tiny-cpu.yaml", ["rollout.group_size=8", "learner.lr=1e-4"])

Unknown keys, wrong types, values out of a field's range and bad combinations of fields raise
`ConfigError` with one line per bad field, naming its dotted key:

    invalid config (configs/tiny-cpu.yaml + overrides):
      rollout.group_size: must be >= 1 (got 0)
      rollout.temperature_max: must be >= temperature_min (1.2) (got 0.9)

Ranges are declared on the fields (`Field(ge=..., le=...)`), cross-field checks in each section's
`model_validator` through `rlsys.config_base.require`; `rlsys config docs` lists every range.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import Field, ValidationError, model_validator

from rlsys.actors.placement_config import ClusterConfig
from rlsys.config_base import CROSS_FIELD, Section, require
from rlsys.corpus.config import CorpusConfig
from rlsys.env.config import EnvConfig
from rlsys.judge.config import JudgeConfig
from rlsys.learner.config import LearnerConfig, SFTConfig
from rlsys.rollout.config import ModelConfig, RolloutConfig
from rlsys.sandbox.config import SandboxConfig

DEFAULT_PRESET = "configs/tiny-cpu.yaml"


class TrainConfig(Section):
    mode: Literal["local", "collocated", "cluster"] = "local"
    """Placement: `local` (Ray on this machine, CPU), `collocated` (one GPU shared by all actors) or `cluster`."""
    steps: int = Field(20, ge=0)
    """GRPO steps."""
    questions_per_step: int = Field(2, ge=1)
    """Questions per GRPO step (each gets `rollout.group_size` rollouts)."""
    max_staleness: int = Field(1, ge=0)
    """Policy versions a rollout may lag the learner; 0 is fully synchronous."""
    informative_groups: int = Field(0, ge=0, le=4096)
    """Dynamic sampling (DAPO): a step keeps drawing questions until it holds this many groups with non-zero reward variance (or has drawn `max_groups_drawn`), and trains only on those; the rest are logged (`groups_drawn` / `groups_informative` / `groups_dropped`). 0 = off: a step trains on its `questions_per_step` groups."""
    max_groups_drawn: int = Field(16, ge=1, le=16384)
    """Dynamic sampling: the most groups one step may draw (its `questions_per_step` included); must be >= `questions_per_step` when `informative_groups` > 0."""
    eval_every: int = Field(10, ge=0)
    """Evaluate on the held-out split every N steps (0 = only at the end)."""
    eval_questions: int = Field(32, ge=1)
    """Held-out questions per evaluation."""
    eval_samples: int = Field(1, ge=1, le=64)
    """Sampled episodes per held-out question at `rollout.temperature_min`; the eval's accuracy is correct / all of them, and the report's paired intervals use each question's mean over its samples."""
    eval_greedy: bool = False
    """Also evaluate one greedy episode (temperature 0) per question in the report's row evaluations (base, SFT, SFT+RL; not the `eval_every` curve points); its accuracy is reported beside the sampled one (`summary.greedy`, the report's `greedy` column and intervals)."""
    checkpoint_every: int = Field(10, ge=0)
    """Write a checkpoint every N steps."""
    output_dir: str = Field("runs/latest", min_length=1)
    """Run directory: metrics, checkpoints, adapters, plots."""
    seed: int = Field(0, ge=0)
    """Global seed."""
    ray_address: str | None = None
    """Ray address to join (`auto` for a running cluster); None starts a local instance."""
    wandb_project: str | None = None
    """Log metrics to this Weights & Biases project as well (needs the `wandb` extra)."""
    phase_schedule: Literal["auto", "overlap", "sequential"] = "auto"
    """`overlap`: generation, judging and learning overlap (up to `max_staleness` steps ahead); `sequential`: generate -> judge -> learn with barriers, each engine awake only in its phase; `auto`: sequential in collocated mode, else overlap."""
    setup_timeout_s: float = Field(1800.0, ge=1.0, le=86400.0)
    """Seconds the controller waits for actors to start (index and model loads, engine start) or a checkpoint to load."""
    collect_timeout_s: float = Field(3600.0, ge=1.0, le=86400.0)
    """Seconds one step's rollout groups (and their judging) may take; groups not done by then are dropped as infra errors."""
    learn_timeout_s: float = Field(3600.0, ge=1.0, le=86400.0)
    """Seconds the controller waits for one learner step or checkpoint write."""
    push_timeout_s: float = Field(600.0, ge=1.0, le=86400.0)
    """Seconds the controller waits for an adapter export, a weight push, a sleep or a wake."""


class Config(Section):
    """The root of the config tree."""

    model: ModelConfig = ModelConfig()
    """The policy's base model."""
    env: EnvConfig = EnvConfig()
    """The task (environment): `wiki_search`, `reverse_text` or a user's `package.module:Class`."""
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

    @model_validator(mode="after")
    def _cross_section_checks(self) -> "Config":
        self._environment_defaults()
        one_gpu = self.train.mode == "collocated"
        return require(
            self,
            ("rollout.replicas", not one_gpu or self.rollout.replicas == 1, "must be 1 when train.mode is collocated"),
            ("judge.replicas", not one_gpu or self.judge.replicas == 1, "must be 1 when train.mode is collocated"),
            ("learner.gpus", not one_gpu or self.learner.gpus == 1, "must be 1 when train.mode is collocated"),
            ("train.max_groups_drawn",
             not self.train.informative_groups or self.train.max_groups_drawn >= self.train.questions_per_step,
             "must be >= train.questions_per_step when train.informative_groups > 0"),
        )


    def _environment_defaults(self) -> None:
        """Builds the environment; `judge.kind` / `judge.reward` left unset take the environment's `default_judge` /
        `default_reward` (once: the resolved values are set fields from then on)."""
        from rlsys.env.registry import environment_of

        env = environment_of(self)  # builds it: its own checks of env.options fail the load
        update = {key: getattr(env, attr) for key, attr in (("kind", "default_judge"), ("reward", "default_reward"))
                  if key not in self.judge.model_fields_set and isinstance(getattr(env, attr, None), str)}
        if update:
            self.judge = JudgeConfig.model_validate({**self.judge.model_dump(exclude_unset=True), **update})


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


_REASONS = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "too_short": "must have at least {min_length} item(s)",
    "string_too_short": "must have at least {min_length} character(s)",
    "literal_error": "must be {expected}",
    "finite_number": "must be a finite number",
}


def _reason(item: dict[str, Any]) -> str:
    if item["type"] == "extra_forbidden":
        return "unknown key"
    if item["type"] == "string_too_short" and item.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    template = _REASONS.get(item["type"])
    return template.format(**{k: _bound(v) for k, v in item.get("ctx", {}).items()}) if template else item["msg"]


def _bound(value: Any) -> Any:
    """1.0 -> 1 (pydantic turns the bounds of float fields into floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _format_validation_error(err: ValidationError, source: str) -> str:
    """One line per bad field: `  dotted.key: reason (got value)`."""
    lines = [f"invalid config ({source}):"]
    for item in err.errors():
        loc = [str(p) for p in item["loc"]]
        if item["type"] == CROSS_FIELD:
            for field, reason, value in item["ctx"]["problems"]:
                lines.append(f"  {'.'.join([*loc, field])}: {reason} (got {value!r})")
            continue
        given = item.get("input")
        shown = "" if item["type"] in ("extra_forbidden", "missing") else f" (got {given!r})"
        lines.append(f"  {'.'.join(loc)}: {_reason(item)}{shown}")
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
            if get_origin(annotation) is Literal:  # its choices are in `field_ranges`
                annotation = type(get_args(annotation)[0])
            type_name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
            yield key, type_name, field.default, (field.description or "").strip()


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def field_ranges(model: type[Section] = Config, prefix: str = "") -> dict[str, str]:
    """Dotted key -> the values its field accepts (`>= 1`, `> 0, <= 1`, `non-empty`, `` `a` / `b` ``); '' if any."""
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            out.update(field_ranges(annotation, key + "."))
            continue
        parts = [" / ".join(f"`{choice}`" for choice in get_args(annotation))] if get_origin(annotation) is Literal else []
        for meta in field.metadata:
            parts += [f"{op} {_bound(getattr(meta, attr))}" for attr, op in _BOUNDS if getattr(meta, attr, None) is not None]
            min_length = getattr(meta, "min_length", None)
            if min_length is not None:
                parts.append("non-empty" if min_length == 1 else f"length >= {min_length}")
        out[key] = ", ".join(parts)
    return out
