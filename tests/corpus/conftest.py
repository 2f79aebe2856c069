"""One small synthetic index shared by the corpus tests (built once per session, ~30-60 s here)."""

from __future__ import annotations

import pytest

from rlsys.corpus.config import CorpusConfig

ENTITIES = 50


@pytest.fixture(scope="session")
def corpus_cfg(tmp_path_factory) -> CorpusConfig:
    from rlsys.corpus.index import ensure_index

    cfg = CorpusConfig(synthetic_entities=ENTITIES, index_dir=str(tmp_path_factory.mktemp("corpus") / "index"))
    ensure_index(cfg)
    return cfg


@pytest.fixture(scope="session")
def service(corpus_cfg):
    from rlsys.corpus.service import CorpusService

    return CorpusService.from_config(corpus_cfg, build=False)


@pytest.fixture(scope="session")
def synthetic_set(corpus_cfg):
    from rlsys.corpus.synthetic import generate_synthetic

    return generate_synthetic(corpus_cfg.synthetic_entities, seed=corpus_cfg.seed)


@pytest.fixture(scope="session")
def real_service(shared_data, tmp_path_factory):
    """The 170 recovered real pages indexed once (~1,100 passages; ~1-4 min on 2 busy cores)."""
    from rlsys.corpus.embedder import shared_embedder
    from rlsys.corpus.index import build_index
    from rlsys.corpus.loaders import load_pages
    from rlsys.corpus.service import CorpusService

    source = str(shared_data / "rare-wiki-partial" / "pages_partial.jsonl")
    index_dir = tmp_path_factory.mktemp("real") / "index"
    build_index(load_pages(source), index_dir, embedder=shared_embedder(), source=source, progress=False)
    return CorpusService.open(index_dir)


@pytest.fixture(scope="session")
def real_golds(shared_data, real_service):
    """The real questions whose gold page is one of the 170 pages."""
    from rlsys.corpus.evaluation import resolve_gold
    from rlsys.corpus.loaders import load_questions

    golds, _ = resolve_gold(load_questions(str(shared_data / "wiki-trivia-v4" / "questions.jsonl")),
                            real_service.pages)
    return golds
