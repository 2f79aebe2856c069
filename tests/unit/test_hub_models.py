"""Hub model names resolved in the driver: local directories untouched, a cached snapshot found
offline, one clear error line when a model is neither cached nor reachable (HF_HUB_OFFLINE)."""

from __future__ import annotations

import pytest

from rlsys.config import Config
from rlsys.hub_models import HubModelError, is_hub_name, resolve_hub_models, resolve_model


def _cached_snapshot(cache, repo: str) -> str:
    """The Hugging Face cache layout for `repo` with one snapshot holding a config.json."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    snap = folder / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    return str(snap)


def test_local_directories_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "model").mkdir(parents=True)
    assert not is_hub_name("org/model")  # exists here: a path
    assert not is_hub_name("./x/y") and not is_hub_name("/abs/path") and not is_hub_name("a/b/c")
    assert is_hub_name("Qwen/Qwen3-4B")
    assert resolve_model(str(tmp_path / "org" / "model")) == str(tmp_path / "org" / "model")
    cfg = Config.model_validate({"model": {"path": "org/model", "tiny": False}})
    assert resolve_hub_models(cfg).model.path == "org/model"


def test_cached_hub_model_resolves_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = _cached_snapshot(tmp_path, "rlsys-test/cached-model")
    cfg = Config.model_validate({"model": {"path": "rlsys-test/cached-model", "tiny": False},
                                 "judge": {"kind": "llm", "model": "rlsys-test/cached-model"}})
    resolved = resolve_hub_models(cfg, cache_dir=tmp_path)
    assert resolved.model.path == snap and resolved.judge.model == snap
    assert cfg.model.path == "rlsys-test/cached-model"  # the given config is not changed


def test_missing_model_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = Config.model_validate({"judge": {"kind": "llm", "model": "rlsys-test/not-cached"}})
    with pytest.raises(HubModelError) as err:
        resolve_hub_models(cfg, cache_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message and "judge.model 'rlsys-test/not-cached'" in message
    assert "HF_HUB_OFFLINE is set" in message and "huggingface-cli download rlsys-test/not-cached" in message
    rule = Config.model_validate({"judge": {"kind": "rule", "model": "rlsys-test/not-cached"}})
    assert resolve_hub_models(rule, cache_dir=tmp_path).judge.model == "rlsys-test/not-cached"  # not used
