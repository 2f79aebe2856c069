"""SFT: the assistant-only mask on the real reference trajectories, data sources, training, resume."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlsys.corpus.types import Question
from rlsys.learner.checkpoint import CheckpointError, latest_checkpoint
from rlsys.learner.config import LoraConfig, SFTConfig
from rlsys.learner.sft import SFTRunner, plot_losses
from rlsys.learner.sft_data import SFTDataError, load_examples, prepare, read_reference_dir, render_messages
from rlsys.rollout.types import Trajectory

IM_END = "<|im_end|>"


def _spans(ids, mask):
    spans, cur = [], []
    for t, m in zip(ids, mask):
        if m:
            cur.append(t)
        elif cur:
            spans.append(cur)
            cur = []
    if cur:
        spans.append(cur)
    return spans


def _norm(text: str) -> str:
    return " ".join(text.replace("<think>", " ").replace("</think>", " ").split())


def test_mask_on_the_real_reference_trajectories(shared_data, tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    conversations = read_reference_dir(shared_data / "seed-sft")
    assert len(conversations) == 81
    for name, messages in conversations:
        ex = render_messages(tok, messages, name)
        assert len(ex.token_ids) == len(ex.loss_mask)
        assistant = [m["content"] for m in messages if m["role"] == "assistant"]
        spans = [tok.decode(s) for s in _spans(ex.token_ids, ex.loss_mask)]
        # one masked-in span per assistant message, each exactly its content (+ the end-of-turn token)
        assert len(spans) == len(assistant), name
        for span, content in zip(spans, assistant):
            assert span.endswith(IM_END), name
            assert _norm(span[: -len(IM_END)]) == _norm(content), name
            assert "<|im_start|>" not in span
        # every tool output and every user/system token is masked out
        masked_out = tok.decode([t for t, m in zip(ex.token_ids, ex.loss_mask) if not m])
        for m in messages:
            if m["role"] != "assistant":
                assert _norm(m["content"]) in _norm(masked_out)
        trained_text = "".join(spans)
        for m in messages:
            if m["role"] == "user" and "<python_output>" in m["content"]:
                assert "<python_output>" not in trained_text, name
        # the whole sequence is the conversation, in order
        assert tok.decode(ex.token_ids).count("<|im_start|>assistant\n") == len(assistant)


def _toy_messages(i: int) -> list[dict]:
    return [
        {"role": "system", "content": "Answer with code."},
        {"role": "user", "content": f"Question: what is {i} plus {i}?"},
        {"role": "assistant", "content": f"<python>\nprint({i} + {i})\n</python>"},
        {"role": "user", "content": f"<python_output>\n{2 * i}\n</python_output>"},
        {"role": "assistant", "content": f"<answer>{2 * i}</answer>"},
    ]


@pytest.fixture()
def toy_dir(tmp_path):
    folder = tmp_path / "ref"
    folder.mkdir()
    for i in range(10):
        (folder / f"traj_{i:04d}.json").write_text(json.dumps({"messages": _toy_messages(i % 8)}))  # 2 duplicates
    (folder / "manifest.json").write_text(json.dumps({"count": 10}))
    return folder


def test_reference_dir_dedup_and_eval_split(toy_dir, tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples, stats = load_examples(toy_dir, tok)
    assert stats["files"] == 10
    data = prepare(examples, eval_fraction=0.25, seed=0, max_tokens=4096)
    assert data.stats["duplicates"] == 2
    assert len(data.train) == 6 and len(data.eval) == 2


def test_rlsys_trajectory_jsonl(tmp_path, tiny_model_dir):
    q = Question(id="q", question="?", answer="!")
    good = Trajectory("e1", q, [1, 2, 3, 4], [0, 0, 1, 1], [0, 0, -1.0, -2.0], prompt_len=2, reward=1.0)
    bad = Trajectory("e2", q, [1, 2, 3], [0, 1, 1], [0, -1.0, -1.0], prompt_len=1, failure="infra_error")
    path = tmp_path / "trajs.jsonl"
    path.write_text("\n".join(json.dumps(t.to_dict()) for t in [good, bad, good]) + "\n")
    examples, stats = load_examples(path, None)
    assert stats["skipped_excluded"] == 1
    assert [e.token_ids for e in examples] == [[1, 2, 3, 4]] * 2 and examples[0].loss_mask == [0, 0, 1, 1]
    assert prepare(examples, 0.0, 0, 100).stats["duplicates"] == 1
    path.write_text("{not json\n")
    with pytest.raises(SFTDataError, match="trajs.jsonl:1"):
        load_examples(path, None)


def _runner(tiny_model_dir, data, **cfg):
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    sft = SFTConfig(epochs=cfg.pop("epochs", 3), lr=cfg.pop("lr", 5e-3), batch_size=3, micro_batch=2,
                    warmup_ratio=0.2, **cfg)
    return SFTRunner(sft, LoraConfig(r=8, alpha=16, dropout=0.1), base, base.config.pad_token_id, data)


def test_sft_lowers_train_and_eval_loss(toy_dir, tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = prepare(load_examples(toy_dir, tok)[0], 0.25, 0, 4096)
    runner = _runner(tiny_model_dir, data, epochs=10, lr=2e-2)
    result = runner.train()
    assert result.steps == 20
    losses = [l for _, l in result.train_losses]
    # (the random tiny model's small tied embeddings bound how far below ln(vocab) it can go)
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.7, losses
    assert result.eval_losses[-1][1] < result.eval_losses[0][1]
    png = plot_losses(result, tmp_path / "loss.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_resume_is_bit_for_bit(toy_dir, tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = prepare(load_examples(toy_dir, tok)[0], 0.25, 0, 4096)
    straight = _runner(tiny_model_dir, data).train(max_steps=6)
    ckpt = tmp_path / "ckpt"
    first = _runner(tiny_model_dir, data, checkpoint_every=1)
    first.train(checkpoint_dir=ckpt, max_steps=3)
    torch.manual_seed(1234)  # a fresh process would have other RNG state: the checkpoint restores it
    second = _runner(tiny_model_dir, data, checkpoint_every=1)
    resumed = second.train(checkpoint_dir=ckpt, max_steps=6)
    assert [l for _, l in resumed.train_losses] == [l for _, l in straight.train_losses]
    # only `checkpoint_keep` (2) complete checkpoints are kept
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-000005", "step-000006"]


def test_corrupt_or_partial_checkpoints_are_refused(toy_dir, tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = prepare(load_examples(toy_dir, tok)[0], 0.25, 0, 4096)
    runner = _runner(tiny_model_dir, data, checkpoint_every=1)
    runner.train(checkpoint_dir=tmp_path / "c", max_steps=2)
    newest = tmp_path / "c" / "step-000002"
    blob = newest / "trainer.pt"
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CheckpointError, match="trainer.pt does not match its checksum"):
        runner.resume(newest)
    # resuming from the root falls back to the previous complete checkpoint
    assert latest_checkpoint(tmp_path / "c").name == "step-000001"
    (newest / "manifest.json").unlink()
    with pytest.raises(CheckpointError, match="partial"):
        runner.resume(newest)
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        runner.resume(tmp_path / "empty")


def test_rlsys_sft_command_writes_adapter_and_loss_curve(toy_dir, tiny_model_dir, tmp_path, capsys):
    from peft import PeftModel

    from rlsys.cli import main

    out = tmp_path / "sft-out"
    argv = ["sft", "--data", str(toy_dir), "--out", str(out), "--set", f"model.path={tiny_model_dir}",
            "--set", "sft.epochs=2", "--set", "sft.batch_size=4", "--set", "learner.lora.r=4",
            "--set", "sft.checkpoint_every=1"]
    assert main(argv) == 0
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((out / "sft_metrics.json").read_text())
    assert metrics["steps"] == 4 and len(metrics["eval_losses"]) == 3
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    loaded = PeftModel.from_pretrained(base, str(out / "adapter"))  # PEFT's on-disk format
    assert loaded.peft_config["default"].r == 4
    # a second run into the same directory must not silently overwrite the checkpoints
    assert main(argv) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    assert main(argv + ["--resume"]) == 0  # nothing left to do: resumes at the end
    assert main(["sft", "--data", str(tmp_path / "nope"), "--set", f"model.path={tiny_model_dir}"]) == 2
