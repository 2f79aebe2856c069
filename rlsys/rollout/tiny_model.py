"""A tiny offline policy model: Qwen3 architecture, random init, a BPE tokenizer trained here.

No model hub is reachable here, so tests and the demo use a model rlsys builds itself. It is a
normal Hugging Face directory (config, safetensors, tokenizer.json, tokenizer_config.json with
the Qwen3-style ChatML template) and loads through `AutoModelForCausalLM`/`AutoTokenizer`
exactly like a real checkpoint.

    path = build_tiny_model("artifacts/models/tiny-qwen3", texts, size="tiny", seed=0)
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from rlsys.rollout.chat_format import ENDOFTEXT, IM_END, IM_START, QWEN3_CHAT_TEMPLATE
from rlsys.rollout.config import ModelConfig
from rlsys.rollout.prompts import prompt_corpus_text

log = logging.getLogger(__name__)

SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END]
# Added as single, non-special tokens (kept when decoding), like Qwen3's <think>.
PROTOCOL_TOKENS = [
    "<think>", "</think>",
    "<python>", "</python>", "<python_output>", "</python_output>", "<answer>", "</answer>",
]
# Qwen2/3 pre-tokenizer split pattern (contractions, letters, single digits, punctuation, spaces).
_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# name -> (BPE vocab target, hidden, layers, heads, kv heads, intermediate); params are approximate.
SIZES: dict[str, tuple[int, int, int, int, int, int]] = {
    "nano": (2048, 128, 2, 4, 2, 384),     # ~0.8M parameters
    "tiny": (4096, 256, 4, 4, 2, 768),     # ~4M
    "small": (8192, 384, 6, 6, 2, 1152),   # ~13M
    "base": (8192, 512, 5, 8, 4, 1536),    # ~20M
}
MARKER = "rlsys_tiny.json"
# RoPE base of the tiny models. Qwen3's 1e6 is made for 32K-token contexts; with 32-64-dim heads it
# leaves almost no position signal over a few tokens, and a tiny model then cannot form the
# previous-token/induction heads that copying needs (measured on a copy task: nano at 1e6 stayed
# at 5% copy accuracy after 700 steps; at 1e4 it passed 80% by step 400). 1e4 is Llama's base.
TINY_ROPE_THETA = 10_000.0


def _train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in PROTOCOL_TOKENS])
    return tok


def _hf_tokenizer(tok):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        bos_token=None,
        unk_token=None,
        chat_template=QWEN3_CHAT_TEMPLATE,
        model_max_length=32768,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(out_dir: str | Path, texts: Iterable[str], size: str = "tiny", seed: int = 0) -> Path:
    """Trains a tokenizer on `texts` + the prompt text and saves a random-init Qwen3 model."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; choose one of {', '.join(SIZES)}")
    vocab_target, hidden, layers, heads, kv_heads, inter = SIZES[size]
    corpus = [t for t in texts if t] + prompt_corpus_text()
    tok = _train_tokenizer(corpus, vocab_target)
    hf_tok = _hf_tokenizer(tok)
    vocab = len(hf_tok)
    config = Qwen3Config(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=hidden // heads,
        max_position_embeddings=8192,
        rope_theta=TINY_ROPE_THETA,
        tie_word_embeddings=True,
        bos_token_id=hf_tok.convert_tokens_to_ids(ENDOFTEXT),
        eos_token_id=hf_tok.convert_tokens_to_ids(IM_END),
        pad_token_id=hf_tok.convert_tokens_to_ids(ENDOFTEXT),
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[config.eos_token_id, config.pad_token_id], pad_token_id=config.pad_token_id
    )
    out = Path(out_dir)
    # Write beside the target and rename, so a concurrent reader never sees half a model.
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(staging)
        hf_tok.save_pretrained(staging)
        _portable_tokenizer_config(staging)
        n_params = sum(p.numel() for p in model.parameters())
        (staging / MARKER).write_text(
            json.dumps({"size": size, "seed": seed, "params": n_params, "vocab": vocab, "texts": len(corpus),
                        "rope_theta": TINY_ROPE_THETA}, indent=2)
        )
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info("built tiny %s model (%d parameters, vocab %d) at %s", size, n_params, vocab, out)
    return out


def _portable_tokenizer_config(folder: Path) -> None:
    """Name the generic fast-tokenizer class and inline the chat template, for older loaders."""
    path = folder / "tokenizer_config.json"
    data = json.loads(path.read_text())
    data["tokenizer_class"] = "PreTrainedTokenizerFast"
    data["chat_template"] = QWEN3_CHAT_TEMPLATE
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def seed_sft_texts(limit: int | None = None) -> list[str]:
    """Message texts of the reference SFT trajectories in `../shared/data/seed-sft`, if present."""
    from rlsys.paths import shared_data_dir

    folder = shared_data_dir() / "seed-sft"
    texts: list[str] = []
    for path in sorted(folder.glob("traj_*.json"))[:limit]:
        try:
            messages = json.loads(path.read_text())["messages"]
        except (OSError, ValueError, KeyError):
            continue
        texts += [m.get("content", "") for m in messages if isinstance(m.get("content"), str)]
    return texts


def default_texts(n_entities: int = 300, seed: int = 0) -> list[str]:
    """Tokenizer training text: the synthetic corpus (pages and questions) plus seed-SFT text.

    The corpus module is imported lazily and only for its text (the one place rollout reads
    another component's data); if it is unavailable the seed-SFT text alone is used.
    """
    texts = seed_sft_texts()
    if not texts:
        from rlsys.paths import shared_data_dir

        # measured: without them the tokenizer learns no code merges and the expert's cell takes
        # 90 tokens instead of 57 (more than the tiny preset's rollout.max_new_tokens of 64)
        log.warning("no seed-SFT transcripts at %s (set RLSYS_SHARED_DATA): the tiny tokenizer is trained "
                    "without code, and the tiny preset's cells will not fit its token budget",
                    shared_data_dir() / "seed-sft")
    try:
        from rlsys.corpus.synthetic import generate_synthetic

        pages, questions = generate_synthetic(n_entities, seed=seed)
    except Exception as err:  # noqa: BLE001 - any failure falls back to the seed text
        log.warning("synthetic corpus unavailable for tokenizer text (%s); using seed SFT text only", err)
        return texts
    texts += [p.content for p in pages]
    texts += [f"{q.question} {q.answer}" for q in questions]
    return texts


def ensure_model(cfg: ModelConfig, texts: Iterable[str] | None = None, size: str | None = None) -> Path:
    """The policy's model directory: builds the tiny model at `cfg.path` if `cfg.tiny` and missing."""
    path = Path(cfg.path)  # relative paths are relative to the working directory
    if (path / "config.json").is_file():
        built = json.loads((path / MARKER).read_text()) if (path / MARKER).is_file() else None
        if not (cfg.tiny and built is not None and built.get("rope_theta") != TINY_ROPE_THETA):
            return path
        log.warning("tiny model at %s was built with RoPE base %s (now %s); rebuilding it", path,
                    built.get("rope_theta", 1e6), TINY_ROPE_THETA)
    if not cfg.tiny:
        raise FileNotFoundError(
            f"model directory {cfg.path} not found (no config.json). Point model.path at a local "
            "Hugging Face checkpoint, or set model.tiny=true to build the tiny offline model."
        )
    return build_tiny_model(path, default_texts() if texts is None else texts, size=size or cfg.tiny_size)
