"""The pretrained nano base shipped in the repository (`models/nano-qwen3`) is the one the default
preset describes, and the preset uses it as it is instead of pretraining again."""

from __future__ import annotations

import json
from pathlib import Path

from rlsys.config import load_config

SHIPPED = Path("models/nano-qwen3")


def test_the_shipped_base_was_pretrained_with_the_presets_recipe():
    cfg = load_config("configs/tiny-cpu.yaml")
    assert Path(cfg.model.path) == SHIPPED
    done = json.loads((SHIPPED / "rlsys_pretrain.json").read_text())
    m = cfg.model
    assert (done["steps"], done["copy_steps"], done["seq_len"], done["lr"]) == (
        m.pretrain_steps, m.pretrain_copy_steps, m.pretrain_seq_len, m.pretrain_lr)
    assert m.pretrain_copy_lr == done["copy_lr"]
    assert done["copy_loss_last"] < 3.0  # the copy task was learned (random: ln(2056) ~ 7.6)
    assert done["loss_last"] < done["loss_first"] - 4
    built = json.loads((SHIPPED / "rlsys_tiny.json").read_text())
    assert built["size"] == m.tiny_size


def test_the_preset_loads_the_shipped_base_without_pretraining(monkeypatch):
    import transformers

    import rlsys.learner.pretrain as pretrain
    from rlsys.base_model import ensure_base_model

    def refuse(*args, **kwargs):
        raise AssertionError("the shipped base was pretrained again")

    monkeypatch.setattr(pretrain, "pretrain_causal_lm", refuse)
    before = (SHIPPED / "model.safetensors").stat().st_mtime_ns
    assert ensure_base_model(load_config("configs/tiny-cpu.yaml")) == SHIPPED
    assert (SHIPPED / "model.safetensors").stat().st_mtime_ns == before
    model = transformers.AutoModelForCausalLM.from_pretrained(SHIPPED)
    tokenizer = transformers.AutoTokenizer.from_pretrained(SHIPPED)
    assert sum(p.numel() for p in model.parameters()) == 657_152
    assert len(tokenizer) == model.config.vocab_size == 2056


def test_model_pretrain_refuses_to_overwrite_or_to_pretrain_nothing(tmp_path, capsys):
    from rlsys.cli import main

    assert main(["model", "pretrain", "--out", str(SHIPPED)]) == 2
    assert "already holds a model; --force rebuilds it" in capsys.readouterr().out
    assert main(["model", "pretrain", "--out", str(tmp_path / "m"), "--set", "model.pretrain_steps=0"]) == 2
    assert "nothing to pretrain" in capsys.readouterr().out
    assert not (tmp_path / "m").exists()


def test_model_pretrain_builds_and_pretrains_with_the_configs_recipe(tmp_path, capsys):
    from rlsys.cli import main

    out = tmp_path / "base"
    args = ["model", "pretrain", "--out", str(out), "--set", "model.pretrain_steps=4",
            "--set", "model.pretrain_copy_steps=2", "--set", "model.pretrain_seq_len=32"]
    assert main(args) == 0
    done = json.loads((out / "rlsys_pretrain.json").read_text())
    assert (done["steps"], done["copy_steps"], done["seq_len"]) == (4, 2, 32)
    first = (out / "model.safetensors").read_bytes()
    assert main([*args, "--force"]) == 0  # rebuilt in place, the same bytes: the recipe is seeded
    assert (out / "model.safetensors").read_bytes() == first
    assert "pretrain step 6/6" in capsys.readouterr().out


def test_demo_rebuild_base_pretrains_a_fresh_base_under_the_run_dir(tmp_path, monkeypatch):
    import rlsys.demo
    from rlsys.cli import main

    seen = {}
    monkeypatch.setattr(rlsys.demo, "run_demo", lambda cfg, path, overrides, run_dir: seen.update(
        cfg=cfg, overrides=overrides, run_dir=run_dir))
    stale = tmp_path / "run" / "base-model"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    assert main(["demo", "--run-dir", str(tmp_path / "run"), "--rebuild-base"]) == 0
    assert Path(seen["cfg"].model.path) == stale and not stale.exists()  # the old one is gone: it is pretrained anew
    assert f"model.path={stale}" in seen["overrides"]  # the SFT stage, which reloads the config, gets it too
    assert main(["demo", "--run-dir", str(tmp_path / "run2")]) == 0
    assert Path(seen["cfg"].model.path) == SHIPPED
