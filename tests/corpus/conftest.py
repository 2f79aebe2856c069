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
