"""The second hop: two-hop synthetic questions find both pages far more often; factoid recall holds."""

from __future__ import annotations

from rlsys.corpus.evaluation import multihop_recall, recall_per_mode, resolve_gold
from rlsys.corpus.fusion import Fusion
from rlsys.corpus.synthetic_multihop import two_hop_questions

ENTITIES = 50  # the session index (conftest)


def _with_fusion(service, fusion, fn):
    saved = service.retriever.fusion
    service.retriever.fusion = fusion
    try:
        return fn()
    finally:
        service.retriever.fusion = saved


def test_two_hop_questions_name_only_the_first_page(synthetic_set):
    pages, _ = synthetic_set
    titles = {p.id: p.title for p in pages}
    questions = two_hop_questions(ENTITIES)
    assert len(questions) >= 40
    for q in questions:
        first, second = q.gold
        assert titles[first] in q.question and titles[second] not in q.question
        page = next(p for p in pages if p.id == first)
        assert f"]({titles[second]})" in page.content  # the first page links to the second


def test_second_hop_finds_both_pages_far_more_often(service):
    questions = two_hop_questions(ENTITIES)
    without = _with_fusion(service, Fusion(hop_pages=0), lambda: multihop_recall(service, questions))
    with_hop = multihop_recall(service, questions)
    assert with_hop["any_at_5"] >= without["any_at_5"]
    assert with_hop["all_at_5"] >= without["all_at_5"] + 0.2, (without, with_hop)
    assert with_hop["all_at_5"] >= 0.7, with_hop


def test_second_hop_keeps_single_page_recall(service, synthetic_set, real_service, real_golds):
    _, questions = synthetic_set
    golds, _ = resolve_gold(questions, service.pages)
    for svc, gold in ((service, golds), (real_service, real_golds)):
        without = _with_fusion(svc, Fusion(hop_pages=0),
                               lambda: recall_per_mode(svc, gold, ks=(1, 5), modes=("hybrid",)))
        with_hop = recall_per_mode(svc, gold, ks=(1, 5), modes=("hybrid",))
        assert with_hop["hybrid"][1] == without["hybrid"][1]  # the first result is never displaced
        assert with_hop["hybrid"][5] >= without["hybrid"][5] - 0.01


def test_hop_results_keep_the_result_shape(service):
    question = two_hop_questions(ENTITIES)[0].question
    results = service.search_pages(question, k=5)
    assert len(results) == 5 and len({r["page_id"] for r in results}) == 5
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert len(service.search_pages(question, k=1)) == 1
