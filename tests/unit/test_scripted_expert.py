import ast

from rlsys.corpus.types import Question
from rlsys.scripted_expert import answer_bounds, expert_cell

SECTION = "## Early life\n\nClio Torström was born in 1917 in [Kileth Junction](Kileth Junction), the second child."
COUNCIL = "### Local council\n\nIris Vale is a name. The current mayor of Delby is Ann Orr. Elections are held."


def _extract(text: str, cue: str, stop: str) -> str:
    return text.split(cue)[1].split(stop)[0]


def test_bounds_isolate_the_answer_with_a_cue_free_of_names_and_digits():
    assert answer_bounds(SECTION, "1917") == (" in ", " ")
    assert answer_bounds(SECTION, "Kileth Junction") == (" [", "]")
    assert answer_bounds(SECTION, "Nowhere") is None
    # " is " first occurs after "Iris Vale", not after "Delby": the cue has to grow, but "Delby is"
    # holds a capital, so no cue isolates the answer
    assert answer_bounds(COUNCIL, "Ann Orr") is None
    for answer in ("1917", "Kileth Junction"):
        assert _extract(SECTION, *answer_bounds(SECTION, answer)) == answer


def _run(cell: str, pages: dict[str, str], extra: dict | None = None, searched: list | None = None) -> str:
    out = []
    searched = [] if searched is None else searched
    env = {
        **(extra or {}),
        "search_pages": lambda q: searched.append(q) or [{"page_id": "clio_torström", "title": "Clio Torström"}],
        "read_section": lambda sid: pages[sid],
        "print": lambda *a: out.append(" ".join(map(str, a))),
    }
    exec(compile(ast.parse(cell), "<cell>", "exec"), env)
    return "\n".join(out)


def test_cell_searches_with_the_question_and_prints_exactly_the_answer():
    q = Question("q1", 'Clio "Torström" was born in which year?', "1917", "clio_torström", "clio_torström:early_life")
    cell = expert_cell(q, SECTION)
    assert 'search_pages("Clio \\"Torström\\" was born in which year?")' in cell
    assert _run(cell, {"clio_torström:early_life": SECTION}) == "1917"


def test_title_answers_and_the_whole_section_fallback():
    q = Question("q2", "Which poet was born in 1917?", "Clio Torström", "clio_torström", "clio_torström:early_life")
    assert _run(expert_cell(q, SECTION, answer_is_title=True), {}) == "Clio Torström"
    q3 = Question("q3", "Who is it?", "Nowhere", "clio_torström", "clio_torström:early_life")
    assert _run(expert_cell(q3, SECTION), {"clio_torström:early_life": SECTION}) == SECTION


def test_with_the_question_variable_the_cell_searches_with_it():
    q = Question("q1", 'Clio "Torström" was born in which year?', "1917", "clio_torström", "clio_torström:early_life")
    cell = expert_cell(q, SECTION, question_variable=True)
    assert cell.startswith("pages = search_pages(question)\n") and "Torström" not in cell
    searched = []
    env = {"question": q.question}
    out = _run(cell, {"clio_torström:early_life": SECTION}, env, searched)
    assert out == "1917" and searched == [q.question]


def test_vague_query_drops_names_and_numbers():
    from rlsys.scripted_recovery import vague_query

    assert vague_query("What is the birth year of the sculptor Ulric Caskley?") == "What is the birth year of the sculptor"
    assert vague_query("Who founded Zorblat Harbor in 1702?") == "Who founded in"
    assert vague_query("what is it?") is None


def test_the_share_is_a_stable_hash_of_the_id():
    from rlsys.scripted_recovery import chosen_for_recovery

    ids = [f"q-{i}" for i in range(2000)]
    chosen = [i for i in ids if chosen_for_recovery(i, 0.25)]
    assert 0.2 < len(chosen) / len(ids) < 0.3
    assert chosen == [i for i in ids if chosen_for_recovery(i, 0.25)]
    assert not any(chosen_for_recovery(i, 0.0) for i in ids) and all(chosen_for_recovery(i, 1.0) for i in ids)
