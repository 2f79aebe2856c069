"""Tool calls answered by the real `CorpusService` (a 50-entity synthetic index built once in a
tmp dir): a cell finds a fictional fact, the text it read is in `tool_outputs`, and bad calls
come back as readable errors."""

from __future__ import annotations

import pytest
import pytest_asyncio

from rlsys.sandbox.pool import SandboxPool
from rlsys.sandbox.types import ExecStatus

from .conftest import require, run_cells, small_config

pytestmark = pytest.mark.asyncio(loop_scope="module")
N_ENTITIES = 50


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from rlsys.corpus.config import CorpusConfig
    from rlsys.corpus.service import CorpusService

    cfg = CorpusConfig(synthetic_entities=N_ENTITIES, index_dir=str(tmp_path_factory.mktemp("corpus") / "index"))
    return CorpusService.from_config(cfg)


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=[pytest.param("docker", marks=pytest.mark.docker), "bwrap"])
async def corpus_pool(request, service):
    require(request.param)
    pool = SandboxPool(small_config(containers_per_worker=1), service.call_tool, backend=request.param)
    await pool.start()
    yield pool
    await pool.shutdown()


async def test_a_cell_searches_and_reads_the_real_corpus(corpus_pool, service):
    page = service.page(service.page_ids()[7])
    code = (f"hits = search_pages({page.title!r})\n"
            "top = hits[0]\n"
            "sections = view_sections(top['page_id'])\n"
            "text = read_section(top['page_id'] + ':full')\n"
            "print(top['title'], len(sections), len(text) > 0)")
    (r,) = await run_cells(corpus_pool, code, timeout_s=20)
    assert r.status is ExecStatus.OK, r
    assert r.stdout == f"{page.title} {len(service.view_sections(page.id))} True\n"
    assert r.tool_calls == 3 and len(r.tool_outputs) == 3
    first_sentence = page.content.strip().splitlines()[-1][:40]
    assert first_sentence in r.tool_outputs[2]  # the judge can see what the model read


async def test_unknown_ids_come_back_as_error_text(corpus_pool):
    r1, r2 = await run_cells(corpus_pool, "view_sections('no_such_page_zz')", "read_section('no_such_page_zz:intro')",
                             timeout_s=20)
    assert r1.status is ExecStatus.OK and "Error" in r1.stdout
    assert r2.status is ExecStatus.OK and "Error" in r2.stdout
