import ast

from rlsys.corpus.types import Question
from rlsys.scripted_expert import cue_before, expert_cell

SECTION = "## Early life\n\nClio Torström was born in 1917 in [Kileth Junction](Kileth Junction), the second child."


def test_cue_skips_years_and_names():
    assert cue_before(SECTION, "1917") == "born in "
    assert cue_before(SECTION, "Kileth Junction") == "in ["
    assert cue_before(SECTION, "Nowhere") is None


def _run(cell: str, pages: dict[str, str]) -> str:
    out = []
    env = {
        "search_pages": lambda q: [{"page_id": "clio_torström", "title": "Clio Torström"}],
        "read_section": lambda sid: pages[sid],
        "print": lambda *a: out.append(" ".join(map(str, a))),
    }
    exec(compile(ast.parse(cell), "<cell>", "exec"), env)
    return "\n".join(out)


def test_short_copy_cell_prints_a_window_that_starts_the_answer_after_the_cue():
    q = Question("q1", "Clio Torström was born in which year?", "1917", "clio_torström", "clio_torström:early_life")
    cell = expert_cell(q, "Clio Torström", SECTION)
    assert 'search_pages("Clio Torström")' in cell
    out = _run(cell, {"clio_torström:early_life": SECTION})
    assert out.startswith("born in 1917")


def test_falls_back_to_the_whole_question_when_the_name_is_not_in_it():
    q = Question("q2", "Which poet was born in 1917?", "Clio Torström", "clio_torström", "clio_torström:early_life")
    cell = expert_cell(q, "Clio Torström", SECTION)
    assert 'search_pages("Which poet was born in 1917?")' in cell and "text.find" not in cell
