"""`rlsys bench corpus`: index build time, search latency and throughput, recall of the gold page.

    rlsys bench corpus                                       # synthetic corpus (+ real pages if present)
    rlsys bench corpus --source pages.jsonl --questions questions.jsonl   # any page/question files

On a synthetic corpus (2,590 pages by default, the real corpus's size), or on `--source` pages
with `--questions` (gold page by id or title; questions whose page is absent are left out):
- `build_s`: index build (embedding every passage); with `--reuse` a complete index of the same
  corpus is kept and its recorded build time reported (`build_reused: true`);
- `search_p50_ms`/`search_p99_ms`: one `search_pages` call at a time on distinct queries with an
  empty query-embedding cache (the honest cost, embedding included); `search_cached_p50_ms` is the
  same queries again (rollouts of one question repeat searches), `search_cpu_p50_ms`/`_p99_ms` the
  CPU time of the uncached calls (what a call costs on a core of its own; wall time on a shared
  machine adds the waits for a core), `retrieval_p50_ms` excludes the
  embedding, `embed_p50_ms` is the embedding alone (`embed_vs_torch_p50_ms`: the embedder's
  query runtime, int8 ONNX where installed, the float ONNX export and the PyTorch forward pass
  side by side on 100 queries);
- `batched_qps`: distinct queries through `search_pages_batch` in batches of `--batch` (what the
  `CorpusActor` does with concurrent callers), their embedding spread over `--query-threads`
  threads; `batched_cpu_qps` per second of the process's CPU (all threads);
- `actor_under_load`: one `CorpusActor` (Ray) with `--actor-callers` concurrent callers, each
  searching one query after another: per-call p50/p99, q/s, batches formed;
- `read_p50_ms`/`view_p50_ms`: `read_section`/`view_sections` of random ids;
- `recall_at_{1,5,10}`: gold page among the top k for hybrid, vector-only, BM25-only and
  title-only (the reference environment's) search, over `--recall-questions` questions;
- `baseline_lancedb`: the same hybrid search answered by LanceDB (its vector search and native
  full-text index) instead of the in-memory arrays, measured side by side;
- `real_pages`: recall@1/5 per mode on real pages and questions: the `--source`/`--questions`
  files themselves, or (for the synthetic corpus) `--real-source`/`--real-questions`, by default
  the recovered real pages of `shared/data` when they are there (`--no-real` skips it);
- `multihop`: any/all gold pages in the top 5 for two-hop questions over the synthetic corpus
  (`synthetic_multihop.py`), null on other corpora.
"""

from __future__ import annotations

import argparse
import os
import random
import time

HELP = "corpus index build time, search latency/throughput and recall@k (hybrid vs vector vs title)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pages", type=int, default=2590, help="synthetic entities (one page each)")
    parser.add_argument("--index", default=None, help="index directory (default: artifacts/bench/corpus-<pages>)")
    parser.add_argument("--reuse", action="store_true", help="keep a complete index of the same corpus")
    parser.add_argument("--queries", type=int, default=300, help="distinct queries for latency")
    parser.add_argument("--batch", type=int, default=64, help="queries per batch for batched_qps")
    parser.add_argument("--recall-questions", type=int, default=2000, help="questions scored for recall")
    parser.add_argument("--seed", type=int, default=0, help="synthetic corpus seed")
    parser.add_argument("--source", default="synthetic", help="pages: synthetic | hf:<dataset> | JSONL/JSON/parquet path")
    parser.add_argument("--questions", default=None, help="questions of --source (required unless synthetic)")
    parser.add_argument("--real-source", default=None, help="real pages for `real_pages` (default: shared/data)")
    parser.add_argument("--real-questions", default=None, help="real questions for `real_pages` (default: shared/data)")
    parser.add_argument("--no-real", action="store_true", help="skip `real_pages` on the synthetic corpus")
    parser.add_argument("--query-threads", type=int, default=2,
                        help="threads embedding a batch's queries (corpus.query_threads; 2 = the 2-core target)")
    parser.add_argument("--actor-callers", type=int, default=24, help="concurrent callers of one CorpusActor (0 skips)")


def _pct(values: list[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3) if values else float("nan")


def _timed(fn, items, cpu: list[float] | None = None) -> list[float]:
    """Wall seconds of `fn(item)` per item; `cpu` (when given) gets this thread's CPU seconds of each."""
    out = []
    for item in items:
        c0, t0 = time.thread_time(), time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.thread_time() - c0)
    return out


def _recall(svc, golds, mode: str) -> dict[int, float]:
    from rlsys.corpus.evaluation import recall_per_mode

    return recall_per_mode(svc, golds, ks=(1, 5, 10), modes=(mode,))[mode]


def _file_index(source: str) -> str:
    import hashlib

    from rlsys.paths import artifacts_dir

    return str(artifacts_dir() / "bench" / f"corpus-file-{hashlib.sha256(source.encode()).hexdigest()[:12]}")


def real_pages_recall(source: str, questions_source: str, embedder, index_dir: str | None = None) -> dict:
    """recall@1/5 per mode of `questions_source` over the pages of `source` (index built or reused)."""
    from rlsys.corpus.evaluation import recall_per_mode, resolve_gold
    from rlsys.corpus.index import build_index
    from rlsys.corpus.loaders import load_pages, load_questions
    from rlsys.corpus.service import CorpusService

    pages = load_pages(source)
    index_dir = index_dir or _file_index(source)
    build_index(pages, index_dir, embedder=embedder, source=source, update=True, progress=False)
    svc = CorpusService.open(index_dir, embedder=embedder)
    golds, dropped = resolve_gold(load_questions(questions_source), svc.pages)
    recall = recall_per_mode(svc, golds, ks=(1, 5))
    return {"source": source, "questions_source": questions_source, "pages": len(pages),
            "passages": len(svc.retriever.passage_texts), "questions": len(golds), "questions_without_page": dropped,
            "recall_at_1": {m: r[1] for m, r in recall.items()}, "recall_at_5": {m: r[5] for m, r in recall.items()}}


def _default_real() -> tuple[str, str] | None:
    from rlsys.paths import shared_data_dir

    root = shared_data_dir()
    pages, questions = root / "rare-wiki-partial" / "pages_partial.jsonl", root / "wiki-trivia-v4" / "questions.jsonl"
    return (str(pages), str(questions)) if pages.is_file() and questions.is_file() else None


def _corpus(args):
    """(pages, questions, index dir, manifest source) of the benchmarked corpus."""
    from rlsys.corpus.loaders import load_pages, load_questions
    from rlsys.corpus.synthetic import generate_synthetic
    from rlsys.paths import artifacts_dir

    if args.source == "synthetic":
        pages, questions = generate_synthetic(args.pages, seed=args.seed)
        return (pages, questions, args.index or str(artifacts_dir() / "bench" / f"corpus-{args.pages}"),
                f"synthetic:{args.pages}:seed={args.seed}")
    if not args.questions:
        raise SystemExit("rlsys bench corpus: --source other than synthetic needs --questions")
    return load_pages(args.source), load_questions(args.questions), args.index or _file_index(args.source), args.source


def run(args: argparse.Namespace) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from rlsys.corpus.embedder import shared_embedder
    from rlsys.corpus.evaluation import resolve_gold
    from rlsys.corpus.index import build_index, read_manifest
    from rlsys.corpus.service import CorpusService

    load_start = os.getloadavg()
    pages, questions, index_dir, source = _corpus(args)
    embedder = shared_embedder(query_threads=args.query_threads)
    manifest = read_manifest(index_dir) if args.reuse else None
    reused = bool(manifest and manifest.get("complete") and manifest.get("source") == source
                  and manifest.get("pages_embedded") == len(pages))
    if reused:
        build_s = float(manifest["build_seconds"])
    else:
        report = build_index(pages, index_dir, embedder=embedder, source=source, rebuild=True)
        build_s = report.seconds
    manifest = read_manifest(index_dir)

    t0 = time.perf_counter()
    svc = CorpusService.open(index_dir, embedder=embedder)
    open_s = time.perf_counter() - t0
    rng = random.Random(args.seed)
    distinct = list(dict.fromkeys(q.question for q in questions))
    rng.shuffle(distinct)
    latency_q, batch_q = distinct[: args.queries], distinct[args.queries : args.queries + 20 * args.batch]
    batch_q = batch_q or distinct  # few questions: the same ones again, with the cache cleared

    svc.search_pages("warm-up query")
    embedder.clear_cache()
    search_cpu: list[float] = []
    search = _timed(svc.search_pages, latency_q, search_cpu)     # uncached: embedding included
    cached = _timed(svc.search_pages, latency_q)                 # same queries: embedding cached
    embedder.clear_cache()
    embed = _timed(lambda q: embedder.encode_queries([q]), latency_q)
    from rlsys.corpus.embedder import Embedder

    torch_embedder = Embedder(runtime="torch", cache_size=0)  # the baseline: the PyTorch forward pass
    torch_embedder.encode_queries(["warm-up query"])
    embed_torch = _timed(lambda q: torch_embedder.encode_queries([q]), latency_q[:100])
    embed_runtime_q = _timed(lambda q: embedder._forward_queries([q]), latency_q[:100])
    embed_float_q = (_timed(lambda q: embedder._onnx([q]), latency_q[:100])
                     if embedder.runtime == "onnx-int8" else None)  # the float export, for comparison
    qvecs = embedder.encode_queries(latency_q)
    retrieval = _timed(lambda i: svc.retriever.search([latency_q[i]], qvecs[i : i + 1], svc.top_k, "hybrid"),
                       range(len(latency_q)))

    embedder.clear_cache()
    c0, t0 = time.process_time(), time.perf_counter()
    for start in range(0, len(batch_q), args.batch):
        svc.search_pages_batch(batch_q[start : start + args.batch])
    batched_qps = len(batch_q) / (time.perf_counter() - t0)
    batched_cpu_qps = len(batch_q) / max(time.process_time() - c0, 1e-9)

    page_ids = [rng.choice(pages).id for _ in range(500)]
    sectioned = [p for p in pages if p.sections] or pages
    section_ids = [rng.choice(p.sections).section_id if p.sections else f"{p.id}:full"
                   for p in (rng.choice(sectioned) for _ in range(500))]
    view = _timed(svc.view_sections, page_ids)
    read = _timed(svc.read_section, section_ids)

    golds, _ = resolve_gold(questions, svc.pages)
    scored = rng.sample(golds, min(args.recall_questions, len(golds)))
    recall = {mode: _recall(svc, scored, mode) for mode in ("hybrid", "vector", "fulltext", "title")}
    if args.source != "synthetic":
        real = real_pages_recall(args.source, args.questions, embedder, index_dir)
    elif not args.no_real and (args.real_source or _default_real()):
        real_src, real_q = (args.real_source, args.real_questions) if args.real_source else _default_real()
        real = real_pages_recall(real_src, real_q or args.questions, embedder)
    else:
        real = None
    multihop = None
    if args.source == "synthetic":
        from rlsys.corpus.evaluation import multihop_recall
        from rlsys.corpus.synthetic_multihop import two_hop_questions

        multihop = multihop_recall(svc, two_hop_questions(args.pages, seed=args.seed))

    lance = CorpusService.open(index_dir, embedder=embedder, backend="lancedb")
    base_q = latency_q[:100]
    embedder.encode_queries(base_q)  # cached on both sides: compare the retrieval paths
    lance_lat = _timed(lance.search_pages, base_q)
    mem_lat = _timed(svc.search_pages, base_q)
    lance_recall = _recall(lance, scored[:500], "hybrid")

    actor = None
    if args.actor_callers > 0:
        from rlsys.bench.corpus_actor_load import actor_load
        from rlsys.corpus.config import CorpusConfig

        cfg = (CorpusConfig(synthetic_entities=args.pages, seed=args.seed, index_dir=index_dir)
               if args.source == "synthetic" else CorpusConfig(source=args.source, index_dir=index_dir))
        cfg = cfg.model_copy(update={"query_threads": args.query_threads})
        actor = actor_load(cfg, (distinct * 4)[: max(8 * args.actor_callers, 200)], callers=args.actor_callers)

    return {
        "pages": len(pages),
        "passages": manifest["passages"],
        "questions": len(questions),
        "build_s": round(build_s, 2),
        "build_reused": reused,
        "build_passages_per_s": round(manifest["passages"] / build_s, 1) if build_s else None,
        "open_s": round(open_s, 2),
        "search_p50_ms": _pct(search, 50),
        "search_p99_ms": _pct(search, 99),
        "search_cpu_p50_ms": _pct(search_cpu, 50),
        "search_cpu_p99_ms": _pct(search_cpu, 99),
        "search_cached_p50_ms": _pct(cached, 50),
        "search_cached_p99_ms": _pct(cached, 99),
        "embed_p50_ms": _pct(embed, 50),
        "embed_runtime": embedder.runtime,
        "embed_vs_torch_p50_ms": {embedder.runtime: _pct(embed_runtime_q, 50), "torch": _pct(embed_torch, 50)}
        | ({"onnx": _pct(embed_float_q, 50)} if embed_float_q else {}),
        "retrieval_p50_ms": _pct(retrieval, 50),
        "retrieval_p99_ms": _pct(retrieval, 99),
        "batched_qps": round(batched_qps, 1),
        "batched_cpu_qps": round(batched_cpu_qps, 1),
        "batch_size": args.batch,
        "query_threads": args.query_threads,
        "actor_under_load": actor,
        "view_p50_ms": _pct(view, 50),
        "read_p50_ms": _pct(read, 50),
        "source": source,
        "recall_questions": len(scored),
        "recall_at_1": {m: r[1] for m, r in recall.items()},
        "recall_at_5": {m: r[5] for m, r in recall.items()},
        "recall_at_10": {m: r[10] for m, r in recall.items()},
        "baseline_lancedb": {
            "cached_search_p50_ms": _pct(lance_lat, 50),
            "memory_cached_search_p50_ms": _pct(mem_lat, 50),
            "speedup_memory_vs_lancedb": round(_pct(lance_lat, 50) / max(_pct(mem_lat, 50), 1e-6), 2),
            "hybrid_recall_at_5": lance_recall[5],
        },
        "real_pages": real,
        "multihop": multihop,
        "cpu_count": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "index_dir": str(index_dir),
    }
