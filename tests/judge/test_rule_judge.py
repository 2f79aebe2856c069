"""The rule judge on real question/answer pairs from wiki-trivia-v4: equivalent phrasings
pass, near misses and give-ups fail; and the approach score from observable behaviour."""

from __future__ import annotations

import re

import pytest

from rlsys.judge.config import JudgeConfig
from rlsys.judge.matching import gold_aliases, is_give_up, match_answer, token_f1
from rlsys.judge.rule_judge import RuleJudge
from rlsys.judge.types import Category
from rlsys.sandbox.types import ExecStatus

from .trajectories import answer_turn, make_traj, search_turn, trivia_questions

# v4_index -> (gold as in the file, answers that mean the same, near misses that do not)
CASES: dict[int, tuple[str, list[str], list[str]]] = {
    63: ("June 13, 2022", ["13 June 2022", "2022-06-13", "06/13/2022", "June 13th, 2022", "On June 13, 2022."],
         ["June 14, 2022", "June 13, 2021", "May 13, 2022", "June 2022"]),
    133: ("2019-07-26", ["July 26, 2019", "26 July 2019", "26/07/2019", "26th of July, 2019"],
          ["2019-07-27", "July 2019", "2018-07-26"]),
    2: ("$90 million", ["90 million dollars", "$90,000,000", "US$90 million", "approximately $90 million", "$90M"],
        ["$95 million", "$90 billion", "$9 million", "$900 million"]),
    471: ("161 consecutive life terms", ["one hundred sixty-one consecutive life terms", "161 consecutive life terms."],
          ["160 consecutive life terms", "161 years"]),
    401: ("Thirteen", ["13", "thirteen", "THIRTEEN."], ["Fourteen", "30", "3"]),
    227: ("18 years", ["eighteen years", "18 Years"], ["19 years", "8 years", "eighteen months"]),
    279: ("8 seasons", ["eight seasons", "Eight", "8"], ["9 seasons", "seven seasons"]),
    13: ("grooming (Child)", ["grooming", "Grooming (child)", "child grooming"], ["bullying", "harassment", "Child"]),
    245: ("Message Understanding Conference (MUC-4)", ["Message Understanding Conference", "the Message Understanding Conference (MUC–4)"],
          ["Text Retrieval Conference", "MUC-3"]),
    457: ("José Tenoch Huerta Mejía", ["Jose Tenoch Huerta Mejia", "Tenoch Huerta", "JOSÉ TENOCH HUERTA MEJÍA"],
          ["Jose Huerta Mejia Garcia", "Diego Luna"]),
    265: ("Weekly Shōnen Jump", ["Weekly Shonen Jump", "Shōnen Jump", "weekly shōnen jump magazine"],
          ["Weekly Young Jump", "Shonen Magazine"]),
    419: ("Kodi Smit-McPhee", ["Kodi Smit\u2013McPhee", "kodi smit mcphee", "Kodi Smit\u2014McPhee"], ["Kodi Lee", "Kodi Smith"]),
    105: ("Alexa & Katie", ["Alexa and Katie", "alexa & katie"], ["Alexa & Kate", "Andi Mack"]),
    329: ("43.3%", ["43.3 percent", "43.3 per cent", "43.3 %"], ["43%", "33.3%", "4.33%"]),
    89: ("About 50%", ["50%", "approximately 50 percent", "around 50%"], ["about 15%", "about 5%"]),
    397: ("$14.50", ["14.50 dollars", "$14.5", "14.50"], ["$15.50", "$14", "$1.45"]),
    309: ("Fourteenth Amendment", ["14th Amendment", "The Fourteenth Amendment"], ["Fifteenth Amendment", "First Amendment"]),
    4: ("The Little Mermaid", ["Little Mermaid", "The Little Mermaid (2023 film)", "the little mermaid"],
        ["The Lion King", "The Little Prince"]),
    293: ("Dekanawida, Hiawatha, Jigonsaseh", ["Hiawatha, Jigonsaseh and Dekanawida", "Dekanawida; Hiawatha; Jigonsaseh"],
          ["Hiawatha", "Hiawatha and Tadodaho"]),
    39: ("Ballet, jazz, tap", ["tap, jazz and ballet", "ballet, jazz & tap"], ["ballet and hip hop", "ballet"]),
    79: ("1963", ["in 1963", "1963.", "The year 1963"], ["1964", "1936"]),
    127: ("2014", ["June 2014", "12 March 2014"], ["2015", "June 2015"]),
    29: ("Omar Bradley", ["General Omar Bradley", "Omar N. Bradley", "omar bradley"], ["Omar Sharif", "George Patton"]),
    341: ("Hermann Göring", ["Hermann Goring", "Göring"], ["Heinrich Himmler", "Hermann Hesse"]),
    75: ("9", ["nine", "Nine."], ["nineteen", "90", "8"]),
    363: ("Approximately 16", ["16", "around sixteen"], ["60", "6"]),
    373: ("Tommy Fury", ["Tommy Fury"], ["Tyson Fury", "Tommy Morrison"]),
    131: ("Sabattus, Maine", ["Sabattus", "Sabattus, Maine, USA"], ["Augusta, Maine", "Lewiston"]),
    81: ("Crime Control and Law Enforcement Act of 1994", ["the Crime Control and Law Enforcement Act of 1994", "Violent Crime Control and Law Enforcement Act of 1994"],
         ["Crime Control and Law Enforcement Act of 1993", "Crime Control Act of 1990"]),
    417: ("Jesse 'The Body' Ventura", ["Jesse Ventura", "Jesse \u201cThe Body\u201d Ventura"], ["Jesse Jackson", "Jesse James"]),
    357: ("Trader Joe's", ["Trader Joe\u2019s", "Trader Joes"], ["Whole Foods", "Trader Vic's"]),
}

GIVE_UPS = ["Unknown", "Not found", "I don't know", "I couldn't find this information.", "Unable to determine",
            "N/A", "", "The answer could not be determined from the corpus.", "No information available", "I do not know."]


@pytest.fixture(scope="module")
def questions(shared_data):
    return trivia_questions(shared_data)


def test_cases_use_the_real_gold_answers(questions):
    for index, (gold, _, _) in CASES.items():
        assert questions[index]["answer"] == gold, index


@pytest.mark.parametrize("index", sorted(CASES))
def test_equivalent_phrasings_pass(questions, index):
    gold = questions[index]["answer"]
    for answer in CASES[index][1]:
        m = match_answer(answer, gold)
        assert m.category == "correct", (gold, answer, m)


@pytest.mark.parametrize("index", sorted(CASES))
def test_near_misses_fail(questions, index):
    """Near misses are never correct: `incorrect` where a rule can tell (another number or date),
    else `incorrect` or `unsure` (words shared with the gold: a model judge may decide)."""
    gold = questions[index]["answer"]
    for answer in CASES[index][2]:
        m = match_answer(answer, gold)
        assert m.category in ("incorrect", "unsure"), (gold, answer, m)
        if re.search(r"\d", answer) and set(re.findall(r"\d+", gold)) != set(re.findall(r"\d+", answer)):
            assert m.category == "incorrect", (gold, answer, m)


@pytest.mark.parametrize("answer", GIVE_UPS)
def test_give_ups_are_gave_up(questions, answer):
    for index in (1, 63, 2):
        assert match_answer(answer, questions[index]["answer"]).category == "gave_up"
    assert match_answer(None, "x").category == "gave_up"


def test_every_real_gold_matches_itself_and_not_a_give_up(questions):
    for row in questions.values():
        assert match_answer(row["answer"], row["answer"]).category == "correct", row
        assert not is_give_up(row["answer"]), row


def test_long_answer_listing_candidates_is_not_correct():
    gold = "MIT"
    assert match_answer("Harvard, Stanford, Yale, Princeton, MIT or Caltech", gold).category == "incorrect"
    assert match_answer("MIT", gold).category == "correct"


def test_aliases():
    assert gold_aliases("MIT | Massachusetts Institute of Technology") == ["MIT", "Massachusetts Institute of Technology"]
    assert match_answer("Massachusetts Institute of Technology", "MIT | Massachusetts Institute of Technology").category == "correct"
    assert match_answer("massachusetts institute of technology", ["MIT", "Massachusetts Institute of Technology"]).category == "correct"
    assert match_answer("Harvard", ["MIT", "Massachusetts Institute of Technology"]).category == "incorrect"


def test_token_f1_reference():
    assert token_f1(["a", "b"], ["a", "b"]) == 1.0
    assert token_f1(["a", "b", "c", "d"], ["a", "b", "c"]) == pytest.approx(2 * 0.75 * 1.0 / 1.75)
    assert token_f1(["x"], ["y"]) == 0.0


# ---- the judge: categories and approach score ----

async def test_rule_judge_categories_and_approach():
    judge = RuleJudge(JudgeConfig())
    page = "Cast\n\nTy Simpkins as young Gavin; Jake Gyllenhaal as Gavin."
    grounded = make_traj("Ty Simpkins", turns=[search_turn([page, "section list"]), answer_turn("Ty Simpkins")])
    memory = make_traj("Ty Simpkins", turns=[answer_turn("Ty Simpkins")])
    erroring = make_traj("Ty Simpkins", turns=[search_turn([page], status=ExecStatus.ERROR), answer_turn("Ty Simpkins")])
    chatty = make_traj("Ty Simpkins", turns=[search_turn([page] * 12), answer_turn("Ty Simpkins")])
    wrong = make_traj("Jake Gyllenhaal", turns=[search_turn([page]), answer_turn("Jake Gyllenhaal")])
    unread = make_traj("Tom Hanks", turns=[search_turn(["Cast: nobody"]), answer_turn("Tom Hanks")])
    gave_up = make_traj("Not found", turns=[search_turn(["no hits"])])
    no_answer = make_traj(None, turns=[search_turn(["no hits"])])
    verdicts = await judge.score([grounded, memory, erroring, chatty, wrong, unread, gave_up, no_answer])
    cats = [v.category for v in verdicts]
    assert cats == [Category.CORRECT, Category.CORRECT, Category.CORRECT, Category.CORRECT, Category.INCORRECT,
                    Category.INCORRECT, Category.GAVE_UP, Category.GAVE_UP]
    approaches = [v.approach for v in verdicts]
    assert approaches == [100.0, 0.0, 85.0, 85.0, 100.0, 65.0, 65.0, 65.0]
    assert "1 tool call" in verdicts[4].rationale or "tool call(s)" in verdicts[4].rationale


async def test_bad_record_is_judge_error_not_wrong():
    traj = make_traj("x", gold="   ")
    (verdict,) = await RuleJudge().score([traj])
    assert verdict.category is Category.JUDGE_ERROR


def test_grounding_in_page_sized_outputs():
    from rlsys.judge.rule_judge import grounded_in

    filler = "Unrelated sentence about the 1990s, page 13 and 2021 events. " * 3000  # ~190k chars
    page = filler + "The film premiered on June 13, 2022 at the Tribeca festival. " + filler
    assert grounded_in("13 June 2022", [page])
    assert grounded_in("2022-06-13", ["short: premiered 06/13/2022."])
    assert not grounded_in("14 June 2022", [page])
    assert grounded_in("Weekly Shonen Jump", ["serialised in Shueisha's Weekly Shōnen Jump magazine"])
    assert grounded_in("$90 million", [filler + "a budget of US$90,000,000 was reported" + filler])
    assert not grounded_in("9", [filler])
    assert not grounded_in("", [page])
