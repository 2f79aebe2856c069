import textwrap

import pytest

from rlsys.config import Config, ConfigError, iter_fields, load_config, parse_override
from rlsys.cli import main


def test_defaults_load_and_every_field_is_documented():
    cfg = load_config(None)
    assert isinstance(cfg, Config)
    undocumented = [key for key, _, _, doc in iter_fields() if not doc]
    assert undocumented == []


@pytest.mark.parametrize("preset", ["configs/tiny-cpu.yaml", "configs/qwen3-4b-24gb.yaml", "configs/qwen3-4b-cluster.yaml"])
def test_presets_load(preset):
    load_config(preset)


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
