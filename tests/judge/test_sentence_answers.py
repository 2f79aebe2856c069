"""The rule judge on the answer shapes of issue 16, one assertion each, on real v4 golds: sentence
answers, lists, possessives and plurals, dates, give-ups, number forms, asides and empties, and
the guards that keep a policy from gaming containment."""

from __future__ import annotations

import pytest

from rlsys.judge.matching import gives_up_as_a_whole, match_answer


def cat(answer, gold, question=None) -> str:
    return match_answer(answer, gold, question=question).category


@pytest.mark.parametrize("answer,gold", [
    ("George Reeves is interred at Mountain View Cemetery in Altadena, California.", "Mountain View Cemetery"),
    ("The game Fallout 76 is set in the region known as Appalachia.", "Appalachia"),
    ("He earned his BFA at New York University\u2019s Tisch School of the Arts.", "New York University"),
    ("The EP was recorded at Sound City Studios in Los Angeles.", "Sound City Studios, Los Angeles"),
    ("Tommy Fury beat Jake Paul by split decision in February 2023.", "Tommy Fury"),
])
def test_the_gold_inside_a_sentence_is_correct(answer, gold):
    assert cat(answer, gold) == "correct"


@pytest.mark.parametrize("answer,gold", [
    ("Gabon and Togo.", "Togo and Gabon"),
    ("tap, jazz and ballet", "Ballet, jazz, tap"),
    ("United States, United Kingdom, Australia, and Poland", "United States, United Kingdom, Australia, Poland"),
    ("They are Viu; Viki; Kocowa; Disney+", "Disney+, Kocowa, Viki, Viu"),
])
def test_lists_match_item_by_item_in_any_order(answer, gold):
    assert cat(answer, gold) == "correct"


@pytest.mark.parametrize("answer,gold,want", [
    ("Ballet and jazz", "Ballet, jazz, tap", "incorrect"),                 # an item missing
    ("Togo, Gabon and Rwanda", "Togo and Gabon", "incorrect"),            # an item added
])
def test_incomplete_or_padded_lists_are_not_correct(answer, gold, want):
    assert cat(answer, gold) == want


@pytest.mark.parametrize("answer,gold", [
    ("February 21, 1980", "1980"), ("It happened on August 2, 2011.", "2011"), ("June 2014", "2014"),
    ("13 June 2022", "June 13, 2022"), ("July 26, 2019", "2019-07-26"),
])
def test_dates_against_years_and_months(answer, gold):
    assert cat(answer, gold) == "correct"


@pytest.mark.parametrize("answer,gold", [("1980", "February 21, 1980"), ("June 2022", "June 13, 2022"), ("1981", "1980")])
def test_less_specific_or_other_dates_are_incorrect(answer, gold):
    assert cat(answer, gold) == "incorrect"


@pytest.mark.parametrize("answer,gold", [
    ("½", "0.5"), ("0.5", "½"), ("a hundred", "100"), ("$90 m", "$90 million"), ("Roughly 90 m dollars.", "$90 million"),
    ("32 kilobytes", "32 KB"), ("About 1.5% to 2% of the population.", "1.5–2%"), ("eighteen years", "18 years"),
])
def test_number_forms(answer, gold):
    assert cat(answer, gold) == "correct"


def test_possessives_and_light_plurals_but_not_the_questions_own_word():
    assert cat("Trader Joes", "Trader Joe's") == "correct"
    assert cat("A handgun", "Handguns") == "correct"
    assert cat("Twisters", "Twister", question="Which 1996 film is Twisters a new chapter of?") == "incorrect"


@pytest.mark.parametrize("answer,gold,want", [
    ("Either MIT or Harvard.", "MIT", "incorrect"),
    ("Harvard, Stanford, Yale, Princeton, MIT or Caltech", "MIT", "incorrect"),
    ("Guillaume at Bennelong, Bennelong Restaurant, Quay", "Guillaume at Bennelong", "incorrect"),
    ("Every university: MIT Harvard Stanford Yale Princeton Caltech Columbia", "MIT", "incorrect"),
    ("1991, 1992, 1993", "1991", "incorrect"),
    ("Possibly Litani River, but I am not sure.", "Litani River", "incorrect"),
    ("It might be Alan Alda.", "Alan Alda", "incorrect"),
    ("Pan Am. No, actually it was TWA.", "Pan Am", "incorrect"),
    ("Not MIT; it is Harvard.", "MIT", "incorrect"),
    ("His father was a journalist, not a diplomat.", "Diplomat", "incorrect"),
])
def test_gaming_containment_is_not_correct(answer, gold, want):
    assert cat(answer, gold) == want


def test_give_up_only_when_the_whole_answer_gives_up():
    assert cat("I could not find the answer in the corpus.", "Mauritius") == "gave_up"
    assert cat("Not found on the first page, but the second result gives Mauritius.", "Mauritius") == "correct"
    assert cat("Mauritius. The page did not mention any other play.", "Mauritius") == "correct"
    assert gives_up_as_a_whole("Unknown") and not gives_up_as_a_whole("Unknown at first; however, it is Mauritius.")


@pytest.mark.parametrize("answer", ["(see the search results above)", "(Mauritius)", "The", ".", "   "])
def test_empty_or_aside_only_answers_never_match(answer):
    assert cat(answer, "Mauritius") in ("incorrect", "gave_up")
    assert cat(answer, "A") != "correct"


@pytest.mark.parametrize("answer,gold", [
    ("Massachusetts Institute of Technology", "MIT"), ("Lafayette", "Marquis de Lafayette"),
    ("The promised canvas bag was replaced with a cheap nylon one.", "Canvas bag replaced with nylon"),
])
def test_what_a_rule_cannot_decide_is_unsure(answer, gold):
    assert cat(answer, gold) == "unsure"


def test_echoing_the_question_is_never_correct(shared_data):
    """Some golds appear in their question ("Nefarious", "Luca"): the question as the answer must not pass."""
    import json

    rows = [json.loads(line) for line in (shared_data / "wiki-trivia-v4" / "questions.jsonl").open()]
    assert sum(cat(r["question"], r["answer"], question=r["question"]) == "correct" for r in rows) == 0
    nefarious = rows[1]
    assert cat("The demon calls himself Nefarious.", nefarious["answer"], question=nefarious["question"]) == "correct"


def test_a_pasted_page_is_not_correct():
    page = ("Mauritius is a play by Theresa Rebeck. It premiered on Broadway in 2007 with Bobby Cannavale, "
            "Alison Pill and F. Murray Abraham, and was nominated for several awards. ") * 3
    assert cat(page, "Mauritius") == "unsure"
    assert cat(page, "Rabbit Hole") == "incorrect"
