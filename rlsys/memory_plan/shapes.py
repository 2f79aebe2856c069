"""Transformer shapes of a decoder-only model (Qwen3 family), read from a Hugging Face
`config.json` or taken from built-in tables, and the parameter / byte counts derived from them.

Used by the memory plan (`rlsys.memory_plan.plan`). Counts are exact for Qwen3 (no biases,
q_norm/k_norm per head, SwiGLU MLP); a 4-bit AWQ model stores its linear layers as 4-bit
weights plus, per group of `group_size` input weights, an fp16 scale and a 4-bit zero point,
and keeps embeddings, lm_head and norms in 16-bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class ModelShapeError(ValueError):
    """The model's shapes cannot be found (no config.json, unknown name) or read."""


@dataclass(frozen=True)
class ModelShape:
    name: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tie_embeddings: bool
    quant_bits: int | None = None     # weight bits of the linear layers (AWQ/GPTQ); None: unquantised
    quant_group_size: int = 128

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear module of one layer."""
        h, q, kv, i = self.hidden_size, self.q_dim, self.kv_dim, self.intermediate_size
        return {
            "q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h),
        }

    def linear_params(self) -> int:
        """Parameters of all linear layers of all decoder layers (lm_head excluded)."""
        return self.num_layers * sum(a * b for a, b in self.linear_shapes().values())

    def embedding_params(self) -> int:
        """Input embedding plus lm_head (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_embeddings else 2)

    def norm_params(self) -> int:
        """RMSNorm weights: two per layer, q_norm and k_norm per layer, the final norm."""
        return self.num_layers * (2 * self.hidden_size + 2 * self.head_dim) + self.hidden_size

    def param_count(self) -> int:
        return self.linear_params() + self.embedding_params() + self.norm_params()

    def weight_bytes(self, dtype_bytes: int = 2) -> int:
        """Bytes of the weights in `dtype_bytes` (quantised linear layers at `quant_bits`)."""
        other = (self.embedding_params() + self.norm_params()) * dtype_bytes
        if self.quant_bits is None:
            return self.linear_params() * dtype_bytes + other
        groups = self.linear_params() // self.quant_group_size
        packed = self.linear_params() * self.quant_bits // 8
        return packed + groups * 2 + groups * self.quant_bits // 8 + other  # + fp16 scales + zeros

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """KV cache bytes of one token: K and V of every layer."""
        return 2 * self.num_layers * self.kv_dim * dtype_bytes

    def lora_params(self, rank: int, targets: list[str] | tuple[str, ...]) -> int:
        """Parameters of LoRA adapters (A: r x in, B: out x r) on `targets` of every layer."""
        shapes = self.linear_shapes()
        unknown = [t for t in targets if t not in shapes]
        if unknown:
            raise ModelShapeError(f"unknown LoRA target modules {unknown}; known: {list(shapes)}")
        return self.num_layers * sum(rank * (shapes[t][0] + shapes[t][1]) for t in targets)


def _qwen3(name: str, h: int, i: int, layers: int, heads: int, tie: bool) -> ModelShape:
    return ModelShape(name, h, i, layers, heads, 8, 128, 151936, tie)


BUILTIN_SHAPES: dict[str, ModelShape] = {
    "Qwen/Qwen3-1.7B": _qwen3("Qwen/Qwen3-1.7B", 2048, 6144, 28, 16, True),
    "Qwen/Qwen3-4B": _qwen3("Qwen/Qwen3-4B", 2560, 9728, 36, 32, True),
    "Qwen/Qwen3-8B": _qwen3("Qwen/Qwen3-8B", 4096, 12288, 36, 32, False),
}
BUILTIN_SHAPES["Qwen/Qwen3-8B-AWQ"] = replace(BUILTIN_SHAPES["Qwen/Qwen3-8B"], name="Qwen/Qwen3-8B-AWQ", quant_bits=4)


def shape_from_hf_config(config: dict, name: str) -> ModelShape:
    """Shapes from a Hugging Face `config.json` mapping (text config of multimodal models too)."""
    cfg = config.get("text_config", config)
    try:
        heads = int(cfg["num_attention_heads"])
        hidden = int(cfg["hidden_size"])
        quant = config.get("quantization_config") or {}
        return ModelShape(
            name=name,
            hidden_size=hidden,
            intermediate_size=int(cfg["intermediate_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=int(cfg.get("head_dim") or hidden // heads),
            vocab_size=int(cfg["vocab_size"]),
            tie_embeddings=bool(config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))),
            quant_bits=int(quant["bits"]) if "bits" in quant else None,
            quant_group_size=int(quant.get("group_size") or 128),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise ModelShapeError(f"{name}: config.json lacks a usable field ({err})") from None


def _hf_cache_config(name: str) -> Path | None:
    import os

    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    snapshots = home / "hub" / f"models--{name.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/config.json")) if snapshots.is_dir() else []
    return found[-1] if found else None


def model_shape(path_or_name: str) -> ModelShape:
    """Shapes of a local model directory, a model in the local HF cache, or a built-in name."""
    path = Path(path_or_name)
    config_file = path / "config.json" if path.is_dir() else _hf_cache_config(path_or_name)
    if config_file is not None and config_file.is_file():
        try:
            return shape_from_hf_config(json.loads(config_file.read_text()), path_or_name)
        except json.JSONDecodeError as err:
            raise ModelShapeError(f"{config_file} is not valid JSON: {err}") from None
    if path.is_dir():
        raise ModelShapeError(f"{path} has no config.json")
    by_short = {key.split("/")[-1].lower(): shape for key, shape in BUILTIN_SHAPES.items()}
    shape = BUILTIN_SHAPES.get(path_or_name) or by_short.get(path_or_name.split("/")[-1].lower())
    if shape is None:
        raise ModelShapeError(
            f"no shapes for model {path_or_name!r}: give a local Hugging Face model directory "
            f"(with config.json) or one of {', '.join(BUILTIN_SHAPES)}"
        )
    return shape
