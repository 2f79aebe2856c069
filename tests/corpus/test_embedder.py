"""The ONNX export of the embedding model agrees with PyTorch, its int8 copy with the float model;
batched queries get the vectors they get alone (float and int8, on one thread and on two); the
query cache is the configured size."""

from __future__ import annotations

import numpy as np
import pytest

from rlsys.corpus.embedder import Embedder
from rlsys.corpus.onnx_encoder import onnx_available

SAMPLE = [
    "Who founded Zanness?",
    "In what year was the novel The Glass Orchard first published by Caskdovic Porcelain Group?",
    "Which river flows through the birthplace of Clio Torström?",
    "What controversy involved the Fallout 76 Power Armor edition's physical item?",
    "AT&T",
    "13 Hours: The Secret Soldiers of Benghazi " * 12,  # long: truncated identically
]


@pytest.fixture(scope="module")
def pair():
    if not onnx_available():
        pytest.fail("onnx and onnxruntime are project dependencies (pyproject.toml) and must be installed")
    return Embedder(runtime="torch", cache_size=0), Embedder(runtime="onnx", cache_size=0)


def test_onnx_vectors_agree_with_torch(pair):
    torch_e, onnx_e = pair
    assert torch_e.runtime == "torch" and onnx_e.runtime == "onnx"
    a = torch_e.encode(SAMPLE)
    b = onnx_e.encode(SAMPLE)                           # padded batches
    single = np.stack([onnx_e.encode_queries([q])[0] for q in SAMPLE])
    assert float((a * b).sum(1).min()) >= 0.99
    assert float((a * single).sum(1).min()) >= 0.99
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-4)


@pytest.fixture(scope="module")
def int8():
    return Embedder(runtime="onnx-int8", cache_size=0)


def test_int8_query_vectors_agree_with_the_float_model(pair, int8):
    _, onnx_e = pair
    assert int8.runtime == "onnx-int8" and int8._onnx_query.path.name == "model.int8-rows.onnx"
    float_q = np.stack([onnx_e.encode_queries([q])[0] for q in SAMPLE])
    int8_q = np.stack([int8.encode_queries([q])[0] for q in SAMPLE])
    cos = (float_q * int8_q).sum(1)
    assert float(cos.min()) >= 0.99, cos  # measured >= 0.996 on 328 questions
    assert float(cos.min()) < 0.99999  # really the quantized model, not the float one again
    assert float((onnx_e.encode(SAMPLE) * int8.encode(SAMPLE)).sum(1).min()) >= 0.9999  # passages stay float


def test_batched_queries_get_their_own_vectors_in_order(pair, int8):
    """Uncached queries of one call, embedded in length-sorted batches: each comes back in its
    place, with the vector the query gets alone, float and int8 alike (int8 activations are scaled
    per token row, so batch-mates cannot move a vector; measured max difference 4e-8)."""
    queries = [f"{SAMPLE[i % 5]} number {i}" + " extra words" * (i % 7) for i in range(40)]
    float_alone = np.stack([pair[1].encode_queries([q])[0] for q in queries])
    for emb in (pair[1], int8):
        together = emb.encode_queries(queries)
        sims = together @ float_alone.T
        assert (sims.argmax(1) == np.arange(len(queries))).all()
        assert float(np.diag(sims).min()) >= (0.9999 if emb is pair[1] else 0.99), np.diag(sims).min()
    int8_alone = np.stack([int8.encode_queries([q])[0] for q in queries])
    assert float(np.abs(int8.encode_queries(queries) - int8_alone).max()) <= 1e-5


def test_an_int8_query_vector_is_the_same_alone_and_in_any_batch(int8):
    """One query embedded alone, in a batch of short queries, in a batch padded to a long one, and
    with its batch split over two threads: the same vector each time (to float rounding)."""
    query = SAMPLE[1]
    alone = int8._onnx_query([query])[0]
    short_mates = int8._onnx_query([query, "AT&T", "Who?", "a b c"])[0]
    long_mates = int8._onnx_query(["x " * 200, query, SAMPLE[5]])[1]  # padded to 200+ tokens, large activations
    for other in (short_mates, long_mates):
        assert float(np.abs(other - alone).max()) <= 1e-5
    mates = [f"question {i} about {SAMPLE[i % 4]}" for i in range(30)]
    try:
        int8.set_query_threads(2)
        threaded = int8._forward_queries(mates + [query])[-1]
    finally:
        int8.set_query_threads(1)
    assert float(np.abs(threaded - alone).max()) <= 1e-5


def test_int8_recall_matches_float_on_real_pages(pair, int8, real_service, real_golds):
    """Hybrid recall of int8 query vectors within half a point of float ones (the issue's target)."""
    from rlsys.corpus.evaluation import recall_per_mode
    from rlsys.corpus.service import CorpusService

    out = {}
    for emb in (pair[1], int8):
        svc = CorpusService.open(real_service.index_dir, embedder=emb)
        out[emb.runtime] = recall_per_mode(svc, real_golds, ks=(1, 5), modes=("hybrid", "vector"))
    for k in (1, 5):
        assert abs(out["onnx-int8"]["hybrid"][k] - out["onnx"]["hybrid"][k]) <= 0.005, out
        assert out["onnx-int8"]["vector"][k] >= out["onnx"]["vector"][k] - 0.025, out


def test_onnx_recall_matches_torch_on_real_pages(pair, real_service, real_golds):
    from rlsys.corpus.evaluation import recall_per_mode
    from rlsys.corpus.service import CorpusService

    torch_e, onnx_e = pair
    out = {}
    for emb in pair:
        svc = CorpusService.open(real_service.index_dir, embedder=emb)
        out[emb.runtime] = recall_per_mode(svc, real_golds, ks=(1, 5), modes=("hybrid", "vector"))
    for mode in ("hybrid", "vector"):
        for k in (1, 5):
            assert abs(out["onnx"][mode][k] - out["torch"][mode][k]) <= 0.005, out


def test_query_cache_size_comes_from_the_config(corpus_cfg):
    from rlsys.corpus.service import CorpusService

    svc = CorpusService.from_config(corpus_cfg.model_copy(update={"query_cache_size": 3}), build=False)
    svc.embedder.clear_cache()
    svc.search_pages_batch([f"query number {i}" for i in range(5)])
    assert svc.embedder.cache_size == 3 and svc.embedder.cache_len() == 3
    svc = CorpusService.from_config(corpus_cfg.model_copy(update={"query_cache_size": 0}), build=False)
    svc.search_pages("another query")
    assert svc.embedder.cache_len() == 0
    CorpusService.from_config(corpus_cfg, build=False)  # back to the default for the other tests
    assert svc.embedder.cache_size == corpus_cfg.query_cache_size
