"""`rlsys corpus build|search|show|questions`: build a LanceDB index and query it from the shell."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "build the corpus index (synthetic, hf:NAME or a JSONL/parquet file), search it, show pages and sections"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from rlsys.config import add_config_arguments

    sub = parser.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="index pages (resumes an interrupted build; skips indexed pages)")
    add_config_arguments(build)
    build.add_argument("--source", default=None, help="synthetic | hf:<dataset> | PATH (default: corpus.source)")
    build.add_argument("--out", default=None, help="index directory (default: corpus.index_dir)")
    build.add_argument("--entities", type=int, default=None, help="synthetic entities (default: corpus.synthetic_entities)")
    build.add_argument("--model", default=None, help="embedding model (default: corpus.embedding_model)")
    build.add_argument("--update", action="store_true", help="re-index changed pages of an index built from other pages")
    build.add_argument("--rebuild", action="store_true", help="delete the index and build it from scratch")

    search = sub.add_parser("search", help="search pages; prints JSON")
    add_config_arguments(search)
    search.add_argument("query", help="the search text")
    search.add_argument("--index", default=None, help="index directory (default: corpus.index_dir)")
    search.add_argument("-k", type=int, default=None, help="results (default: corpus.top_k)")
    search.add_argument("--mode", choices=["hybrid", "vector", "fulltext", "title"], default=None,
                        help="retrieval mode (default: corpus.search_mode)")

    show = sub.add_parser("show", help="a page's sections (page id) or a section's text (section id); JSON")
    add_config_arguments(show)
    show.add_argument("id", help="page id (lists sections) or section id `<page_id>:<slug>` (prints text)")
    show.add_argument("--index", default=None, help="index directory (default: corpus.index_dir)")

    questions = sub.add_parser("questions", help="write the questions of a source as JSONL")
    add_config_arguments(questions)
    questions.add_argument("--source", default=None, help="synthetic | hf:<dataset> | PATH (default: corpus.questions)")
    questions.add_argument("--entities", type=int, default=None, help="synthetic entities")
    questions.add_argument("--out", default="-", help="output JSONL file (default: stdout)")


def run(args: argparse.Namespace) -> int:
    import logging

    from rlsys.config import config_from_args
    from rlsys.corpus.index import IndexMismatchError
    from rlsys.corpus.loaders import CorpusSourceError

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = config_from_args(args).corpus
    try:
        if args.corpus_command == "build":
            return _build(args, cfg)
        if args.corpus_command == "questions":
            return _questions(args, cfg)
        return _query(args, cfg)
    except (CorpusSourceError, IndexMismatchError) as err:
        print(f"rlsys corpus: {err}", file=sys.stderr)
        return 2


def _build(args, cfg) -> int:
    from rlsys.corpus.embedder import shared_embedder
    from rlsys.corpus.index import build_index, source_key
    from rlsys.corpus.loaders import load_pages

    updates = {k: v for k, v in {"source": args.source, "index_dir": args.out, "synthetic_entities": args.entities,
                                 "embedding_model": args.model}.items() if v is not None}
    cfg = cfg.model_copy(update=updates)
    pages = load_pages(cfg.source, synthetic_entities=cfg.synthetic_entities, seed=cfg.seed)
    print(f"loaded {len(pages)} pages from {source_key(cfg)}", file=sys.stderr)
    embedder = shared_embedder(cfg.embedding_model)
    report = build_index(pages, cfg.index_dir, embedder=embedder, source=source_key(cfg), chunk_words=cfg.chunk_words,
                         chunk_overlap=cfg.chunk_overlap, update=args.update, rebuild=args.rebuild)
    print(f"index {report.index_dir}: {report.pages_total} pages ({report.pages_indexed} embedded now, "
          f"{report.pages_skipped} already indexed, {report.pages_removed} removed), {report.passages} passages, "
          f"{report.seconds:.1f}s", file=sys.stderr)
    return 0


def _query(args, cfg) -> int:
    from rlsys.corpus.service import CorpusService

    index_dir = args.index or cfg.index_dir
    svc = CorpusService.open(index_dir, search_mode=args.mode if args.corpus_command == "search" and args.mode
                             else cfg.search_mode, top_k=cfg.top_k, snippet_chars=cfg.snippet_chars, backend=cfg.backend)
    if args.corpus_command == "search":
        out = svc.search_pages(args.query, k=args.k)
    elif ":" in args.id:
        out = svc.read_section(args.id)
        if not out.startswith("Error: "):
            print(out)
            return 0
    else:
        out = svc.view_sections(args.id)
    if isinstance(out, str) and out.startswith("Error: "):
        print(out, file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _questions(args, cfg) -> int:
    from dataclasses import asdict

    from rlsys.corpus.loaders import load_questions, questions_source_for

    source = args.source or questions_source_for(cfg.source, cfg.questions)
    questions = load_questions(source, synthetic_entities=args.entities or cfg.synthetic_entities, seed=cfg.seed)
    lines = "".join(json.dumps(asdict(q), ensure_ascii=False) + "\n" for q in questions)
    if args.out == "-":
        sys.stdout.write(lines)
    else:
        with open(args.out, "w") as fh:
            fh.write(lines)
        print(f"wrote {len(questions)} questions to {args.out}", file=sys.stderr)
    return 0
