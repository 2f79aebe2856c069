import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from rlsys.cli import main
from rlsys.config import Config, ConfigError, field_ranges, iter_fields, load_config, parse_override
from rlsys.judge.config import JudgeConfig
from rlsys.rollout.config import RolloutConfig

PRESETS = sorted(str(p.relative_to(Path(__file__).resolve().parents[2]))
                 for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_defaults_load_and_every_field_is_documented():
    cfg = load_config(None)
    assert isinstance(cfg, Config)
    undocumented = [key for key, _, _, doc in iter_fields() if not doc]
    assert undocumented == []


def test_the_shipped_presets_are_all_found():
    assert {"configs/tiny-cpu.yaml", "configs/qwen3-4b-24gb.yaml", "configs/qwen3-4b-cluster.yaml"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_load(preset):
    import yaml

    path = Path(__file__).resolve().parents[2] / preset
    cfg = load_config(path)
    # every value the preset sets is what the loaded tree holds (nothing dropped or coerced away)
    for section, values in (yaml.safe_load(path.read_text()) or {}).items():
        for key, value in (values or {}).items():
            if not isinstance(value, dict):
                assert getattr(getattr(cfg, section), key) == value, (preset, section, key)


def test_dotted_overrides_are_typed():
    cfg = load_config(None, ["rollout.group_size=8", "learner.lora.r=4", "train.ray_address=null", "corpus.search_mode=title"])
    assert cfg.rollout.group_size == 8
    assert cfg.learner.lora.r == 4
    assert cfg.train.ray_address is None
    assert cfg.corpus.search_mode == "title"


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        rollout:
          group_sise: 8
    """))
    with pytest.raises(ConfigError, match=r"rollout\.group_sise: unknown key"):
        load_config(path)


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"rollout\.group_size: .*integer.*'many'"):
        load_config(None, ["rollout.group_size=many"])


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("rollout.group_size")
    with pytest.raises(ConfigError, match=r"train\.steps"):
        load_config(None, ["train.steps.x=1"])


def test_cli_reports_config_errors_without_traceback(capsys):
    assert main(["config", "show", "--set", "rollout.nope=1"]) == 2
    err = capsys.readouterr().err
    assert "rollout.nope: unknown key" in err and "Traceback" not in err


def test_cli_config_docs_lists_every_field(capsys):
    assert main(["config", "docs"]) == 0
    out = capsys.readouterr().out
    for key, *_ in iter_fields():
        assert f"`{key}`" in out


def test_readme_configuration_reference_is_current():
    from pathlib import Path

    from rlsys.commands.config import reference_table, with_reference

    readme = Path(__file__).resolve().parents[2] / "README.md"
    text = readme.read_text()
    assert with_reference(text, reference_table()) == text, "run: rlsys config docs --write-readme README.md"


# (override, the dotted key the error must name, the reason it must give)
BAD_VALUES = [
    ("model.path=''", "model.path", "must not be empty"),
    ("model.pretrain_steps=-1", "model.pretrain_steps", "must be >= 0"),
    ("model.pretrain_seq_len=4", "model.pretrain_seq_len", "must be >= 8"),
    ("model.pretrain_lr=0", "model.pretrain_lr", "must be > 0"),
    ("model.pretrain_copy_share=1.0", "model.pretrain_copy_share", "must be < 1"),
    ("model.dtype=float8", "model.dtype", "must be 'auto', 'float32', 'bfloat16' or 'float16'"),
    ("corpus.synthetic_entities=0", "corpus.synthetic_entities", "must be >= 1"),
    ("corpus.top_k=0", "corpus.top_k", "must be >= 1"),
    ("corpus.replicas=0", "corpus.replicas", "must be >= 1"),
    ("corpus.chunk_words=0", "corpus.chunk_words", "must be >= 1"),
    ("corpus.candidates=0", "corpus.candidates", "must be >= 1"),
    ("corpus.vector_weight=-1", "corpus.vector_weight", "must be >= 0"),
    ("corpus.snippet_chars=-1", "corpus.snippet_chars", "must be >= 0"),
    ("corpus.query_cache_size=-1", "corpus.query_cache_size", "must be >= 0"),
    ("corpus.batch_window_ms=-1", "corpus.batch_window_ms", "must be >= 0"),
    ("corpus.actor_max_concurrency=0", "corpus.actor_max_concurrency", "must be >= 1"),
    ("corpus.index_dir=''", "corpus.index_dir", "must not be empty"),
    ("sandbox.workers=0", "sandbox.workers", "must be >= 1"),
    ("sandbox.containers_per_worker=0", "sandbox.containers_per_worker", "must be >= 1"),
    ("sandbox.burst_containers=-1", "sandbox.burst_containers", "must be >= 0"),
    ("sandbox.cell_timeout_s=0", "sandbox.cell_timeout_s", "must be > 0"),
    ("sandbox.memory_mb=16", "sandbox.memory_mb", "must be >= 64"),
    ("sandbox.cpus=0", "sandbox.cpus", "must be > 0"),
    ("sandbox.pids=1", "sandbox.pids", "must be >= 8"),
    ("sandbox.output_bytes=10", "sandbox.output_bytes", "must be >= 64"),
    ("sandbox.max_cells_per_container=0", "sandbox.max_cells_per_container", "must be >= 1"),
    ("sandbox.acquire_timeout_s=-1", "sandbox.acquire_timeout_s", "must be > 0"),
    ("rollout.group_size=0", "rollout.group_size", "must be >= 1"),
    ("rollout.temperature_min=-0.1", "rollout.temperature_min", "must be >= 0"),
    ("rollout.top_p=0", "rollout.top_p", "must be > 0"),
    ("rollout.top_p=1.5", "rollout.top_p", "must be <= 1"),
    ("rollout.top_p=.nan", "rollout.top_p", "must be a finite number"),
    ("rollout.max_turns=0", "rollout.max_turns", "must be >= 1"),
    ("rollout.max_new_tokens=0", "rollout.max_new_tokens", "must be >= 1"),
    ("rollout.replicas=0", "rollout.replicas", "must be >= 1"),
    ("rollout.concurrency=0", "rollout.concurrency", "must be >= 1"),
    ("rollout.seed=-1", "rollout.seed", "must be >= 0"),
    ("judge.replicas=0", "judge.replicas", "must be >= 1"),
    ("judge.gpu_memory_utilization=0", "judge.gpu_memory_utilization", "must be > 0"),
    ("judge.gpu_memory_utilization=1.5", "judge.gpu_memory_utilization", "must be <= 1"),
    ("judge.binary_incorrect_reward=1", "judge.binary_incorrect_reward", "must be < 1"),
    ("judge.binary_gave_up_reward=1.5", "judge.binary_gave_up_reward", "must be < 1"),
    ("judge.gave_up_penalty=-0.5", "judge.gave_up_penalty", "must be >= 0"),
    ("judge.temperature=-1", "judge.temperature", "must be >= 0"),
    ("judge.max_new_tokens=0", "judge.max_new_tokens", "must be >= 1"),
    ("judge.batch_size=0", "judge.batch_size", "must be >= 1"),
    ("judge.default_approach=150", "judge.default_approach", "must be <= 100"),
    ("judge.parse_retries=-1", "judge.parse_retries", "must be >= 0"),
    ("judge.http_timeout_s=0", "judge.http_timeout_s", "must be > 0"),
    ("judge.http_concurrency=0", "judge.http_concurrency", "must be >= 1"),
    ("judge.f1_threshold=0", "judge.f1_threshold", "must be > 0"),
    ("judge.containment_min_ratio=2", "judge.containment_min_ratio", "must be <= 1"),
    ("judge.kind=vision", "judge.kind", "Value error, unknown judge.kind 'vision' (registered: exact_match, http, llm, position_match, rule)"),
    ("judge.reward=foo", "judge.reward", "Value error, unknown reward 'foo' (registered: approach, binary, gave_up_penalty)"),
    ("env.name=nope", "env.name", "Value error, unknown environment 'nope' (registered: reverse_text, wiki_search; "
     "or name your own as 'package.module:Class')"),
    ("learner.lora.r=0", "learner.lora.r", "must be >= 1"),
    ("learner.lora.alpha=0", "learner.lora.alpha", "must be > 0"),
    ("learner.lora.dropout=1", "learner.lora.dropout", "must be < 1"),
    ("learner.lora.target_modules=[]", "learner.lora.target_modules", "must have at least 1 item(s)"),
    ("learner.lr=0", "learner.lr", "must be > 0"),
    ("learner.lr=-1e-5", "learner.lr", "must be > 0"),
    ("learner.clip_eps=0", "learner.clip_eps", "must be > 0"),
    ("learner.kl_coef=-0.1", "learner.kl_coef", "must be >= 0"),
    ("learner.micro_batch=0", "learner.micro_batch", "must be >= 1"),
    ("learner.micro_batch_tokens=-1", "learner.micro_batch_tokens", "must be >= 0"),
    ("learner.grad_clip=-1", "learner.grad_clip", "must be >= 0"),
    ("learner.deepspeed_stage=4", "learner.deepspeed_stage", "must be <= 3"),
    ("learner.gpus=0", "learner.gpus", "must be >= 1"),
    ("learner.checkpoint_keep=0", "learner.checkpoint_keep", "must be >= 1"),
    ("sft.epochs=0", "sft.epochs", "must be >= 1"),
    ("sft.lr=0", "sft.lr", "must be > 0"),
    ("sft.warmup_ratio=1", "sft.warmup_ratio", "must be < 1"),
    ("sft.batch_size=0", "sft.batch_size", "must be >= 1"),
    ("sft.micro_batch=0", "sft.micro_batch", "must be >= 1"),
    ("sft.eval_fraction=1", "sft.eval_fraction", "must be < 1"),
    ("sft.checkpoint_every=-1", "sft.checkpoint_every", "must be >= 0"),
    ("sft.data=''", "sft.data", "must not be empty"),
    ("train.steps=-5", "train.steps", "must be >= 0"),
    ("train.questions_per_step=0", "train.questions_per_step", "must be >= 1"),
    ("train.max_staleness=-1", "train.max_staleness", "must be >= 0"),
    ("train.eval_every=-1", "train.eval_every", "must be >= 0"),
    ("train.eval_questions=0", "train.eval_questions", "must be >= 1"),
    ("train.checkpoint_every=-1", "train.checkpoint_every", "must be >= 0"),
    ("train.output_dir=''", "train.output_dir", "must not be empty"),
    ("train.mode=laptop", "train.mode", "must be 'local', 'collocated' or 'cluster'"),
]

# (overrides, key, reason): values fine alone, wrong together
BAD_COMBINATIONS = [
    (["rollout.temperature_min=1.2", "rollout.temperature_max=0.9"], "rollout.temperature_max",
     "must be >= temperature_min (1.2)"),
    (["rollout.max_new_tokens=1024", "rollout.max_episode_tokens=1024"], "rollout.max_new_tokens",
     "must be < max_episode_tokens (1024)"),
    (["corpus.chunk_words=20", "corpus.chunk_overlap=20"], "corpus.chunk_overlap", "must be < chunk_words (20)"),
    (["corpus.vector_weight=0", "corpus.fulltext_weight=0", "corpus.title_weight=0", "corpus.title_vector_weight=0"],
     "corpus.vector_weight", "hybrid search needs at least one fusion weight > 0 (vector, fulltext, title, title_vector)"),
    (["judge.kind=http", "judge.base_url=127.0.0.1:8000/v1"], "judge.base_url", "judge.kind=http needs an http:// or https:// base URL"),
    (["judge.kind=http", "judge.model=''"], "judge.model", "judge.kind=http needs a model name"),
    (["judge.kind=llm", "judge.model=' '"], "judge.model", "judge.kind=llm needs a model name"),
    (["judge.thinking=true", "judge.thinking_budget=0"], "judge.thinking_budget", "must be >= 1 when thinking is on"),
    (["learner.gpus=2", "learner.deepspeed_stage=0"], "learner.gpus", "more than one learner GPU needs deepspeed_stage >= 1"),
    (["train.mode=collocated", "rollout.replicas=2"], "rollout.replicas", "must be 1 when train.mode is collocated"),
    (["train.mode=collocated", "judge.replicas=2"], "judge.replicas", "must be 1 when train.mode is collocated"),
    (["train.mode=collocated", "learner.gpus=2", "learner.deepspeed_stage=2"], "learner.gpus",
     "must be 1 when train.mode is collocated"),
]


def _error_line(overrides: list[str], key: str) -> str:
    """The one line of the load error that names `key` (exactly one must)."""
    with pytest.raises(ConfigError) as caught:
        load_config("configs/tiny-cpu.yaml", overrides)
    lines = [line.strip() for line in str(caught.value).splitlines()[1:]]
    named = [line for line in lines if line.startswith(f"{key}: ")]
    assert len(named) == 1, (key, lines)
    return named[0]


@pytest.mark.parametrize(("override", "key", "reason"), BAD_VALUES, ids=[row[0] for row in BAD_VALUES])
def test_bad_value_is_refused_naming_its_key(override, key, reason):
    value = parse_override(override)[1]
    assert _error_line([override], key) == f"{key}: {reason} (got {value!r})"


@pytest.mark.parametrize(("overrides", "key", "reason"), BAD_COMBINATIONS, ids=[row[1] for row in BAD_COMBINATIONS])
def test_bad_combination_is_refused_naming_its_key(overrides, key, reason):
    line = _error_line(overrides, key)
    assert line.startswith(f"{key}: {reason}") and "(got " in line


def test_every_bad_field_gets_its_own_line():
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["rollout.group_size=0", "train.steps=-5", "rollout.temperature_min=2",
                           "rollout.max_new_tokens=8000", "learner.lora.r=0"])
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "rollout.group_size", "learner.lora.r", "train.steps"]
    # the cross-field checks of a section run once its fields are valid
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["rollout.temperature_min=2", "rollout.max_new_tokens=8000"])
    assert [line.split(":")[0].strip() for line in str(caught.value).splitlines()[1:]] == [
        "rollout.temperature_max", "rollout.max_new_tokens"]


def test_bad_values_in_a_yaml_file_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        rollout:
          group_size: 0
          temperature_min: 0.9
          temperature_max: 0.5
        learner:
          lora:
            r: 0
    """))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert text.splitlines()[0] == f"invalid config ({path}):"
    assert "  rollout.group_size: must be >= 1 (got 0)" in text.splitlines()
    assert "  learner.lora.r: must be >= 1 (got 0)" in text.splitlines()


def test_edge_values_the_system_uses_are_accepted():
    cfg = load_config("configs/tiny-cpu.yaml", [
        "train.eval_every=0", "train.checkpoint_every=0", "train.max_staleness=0", "train.steps=0",
        "sandbox.burst_containers=0", "judge.temperature=0", "rollout.temperature_min=0.8",
        "rollout.temperature_max=0.8", "learner.grad_clip=0", "learner.micro_batch_tokens=0",
        "learner.logits_chunk_tokens=0", "corpus.snippet_chars=0", "judge.binary_gave_up_reward=null",
        "judge.kind=http", "judge.base_url=https://api.example.com/v1", "judge.thinking=false",
        "judge.thinking_budget=0", "sft.micro_batch=8", "sft.batch_size=4",
    ])
    assert cfg.rollout.temperature_min == cfg.rollout.temperature_max == 0.8
    assert cfg.judge.binary_gave_up_reward is None


def test_sections_built_in_code_are_checked_too():
    with pytest.raises(ValidationError, match=r"temperature_max: must be >= temperature_min \(2\.0\) \(got 1\.15\)"):
        RolloutConfig(temperature_min=2.0)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        RolloutConfig(group_size=0)
    cfg = JudgeConfig()
    with pytest.raises(ValidationError, match="needs an http:// or https:// base URL"):
        cfg.model_validate({"kind": "http", "base_url": "nowhere"})
    with pytest.raises(ValidationError):
        cfg.max_new_tokens = 0  # assignment is validated as well


def test_every_number_field_has_a_range():
    """House rule: a new int/float field says which values it accepts (`Field(ge=..., le=...)`)."""
    unranged = [key for key, type_name, _, _ in iter_fields()
                if type_name in ("int", "float", "float | None", "int | None") and not field_ranges()[key]]
    assert unranged == []


def test_cli_config_docs_shows_ranges(capsys):
    assert main(["config", "docs"]) == 0
    out = capsys.readouterr().out
    assert "| `rollout.group_size` | int | `24` | >= 1 |" in out
    assert "| `rollout.top_p` | float | `1.0` | > 0, <= 1 |" in out
    assert "| `train.mode` | str | `'local'` | `local` / `collocated` / `cluster` |" in out
    assert "| `judge.binary_gave_up_reward` | float or None | `None` | < 1 |" in out
