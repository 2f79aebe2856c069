"""The synthetic corpus: deterministic, well-formed, gold answers really on the gold sections."""

from __future__ import annotations

import collections

from rlsys.corpus.synthetic import generate_synthetic


def test_deterministic_and_seed_dependent():
    pages_a, questions_a = generate_synthetic(60, seed=3)
    pages_b, questions_b = generate_synthetic(60, seed=3)
    assert [p.content for p in pages_a] == [p.content for p in pages_b]
    assert questions_a == questions_b
    pages_c, _ = generate_synthetic(60, seed=4)
    assert [p.content for p in pages_a] != [p.content for p in pages_c]


def test_pages_have_the_real_shape_and_unique_ids():
    pages, _ = generate_synthetic(200)
    assert len(pages) == 200 and len({p.id for p in pages}) == 200
    for page in pages:
        lines = page.content.split("\n")
        assert lines[0] == f"# {page.title}"
        assert lines[2].startswith("*Revision ID: ") and "| Timestamp: " in lines[2]
        assert lines[4] == "---"
        assert "\n| name" in page.content
        assert any(s.level == 2 for s in page.sections) and any(s.level == 3 for s in page.sections)
    assert sum("](" in p.content for p in pages) > 150  # cross-links


def test_questions_gold_answer_is_in_gold_section():
    pages, questions = generate_synthetic(200)
    by_id = {p.id: p for p in pages}
    assert len({q.id for q in questions}) == len(questions)
    for q in questions:
        text = by_id[q.page_id].read(q.section_id)
        assert text is not None, q
        assert q.answer in text, q
        assert 0 < len(q.answer) <= 40
    kinds = collections.Counter(by_id[q.page_id].meta["kind"] for q in questions)
    assert set(kinds) == {"person", "place", "work", "organisation"}


def test_split_is_about_a_fifth():
    _, questions = generate_synthetic(400)
    test_share = sum(q.split == "test" for q in questions) / len(questions)
    assert 0.15 < test_share < 0.25


def test_near_duplicate_distractors_exist():
    pages, _ = generate_synthetic(300)
    titles = [p.title for p in pages]
    lowered = {t.lower() for t in titles}
    near = sum(1 for t in titles if any(o != t.lower() and (o in t.lower() or t.lower() in o) for o in lowered))
    assert near >= 20
    words = collections.Counter(t.split()[-1] for t in titles)
    assert words.most_common(1)[0][1] >= 2


def test_reception_2_questions_exist():
    _, questions = generate_synthetic(300)
    assert any(q.section_id.endswith(":reception_2") for q in questions)


def test_tiny_sizes():
    pages, questions = generate_synthetic(1)
    assert len(pages) == 1 and questions
    pages, _ = generate_synthetic(5)
    assert len({p.meta["kind"] for p in pages}) >= 3
