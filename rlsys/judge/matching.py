"""Does an answer mean the same as the gold answer? The rule judge's matching, in four outcomes:
`correct`, `incorrect`, `gave_up`, and `unsure` for what a rule cannot decide (paraphrase,
alias, an answer that is part of the gold) — a cross-checking model judge takes those.

Tokens compare equal when they are equal, equal up to a light plural (`handgun`/`handguns`, not
when the answer's form is the question's own word: "Twisters" for the film Twisters is a new
chapter of), or a more specific date of the gold's year or month (`date_1980_02_21` for `1980`).

Order of checks, against each alias of the gold answer (`|`-separated, or a list):
1. missing/empty -> gave_up; only a parenthesised aside, or nothing comparable -> incorrect;
2. the whole answer equals the gold (normalised: `normalization.normalize_tokens`) -> correct;
3. the answer gives up as a whole -> gave_up (a give-up phrase followed by "but ... X" is judged on X);
4. the gold inside a longer answer -> correct, unless the answer hedges, corrects itself,
   offers alternatives, negates the gold, lists other candidates, or names other numbers;
5. list golds item by item in any order: all items and nothing else -> correct, some -> incorrect;
6. token F1 >= `f1_threshold` with the same numbers -> correct (word order, a middle name);
7. the answer inside the gold: a proper name's part at least `min_ratio` of it, or the gold's
   number without its unit -> correct; other parts -> unsure;
8. shared words or an acronym -> unsure; different numbers or nothing shared -> incorrect.
An answer of more than `MAX_ANSWER_TOKENS` tokens is never correct by rule (unsure if it holds the gold).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from rlsys.judge import answer_shape as shape
from rlsys.judge.normalization import normalize_tokens, numbers_in

GIVE_UP_PATTERNS = [
    r"\bunknown\b", r"\bnot known\b", r"\bnot (?:be )?found\b", r"\b(?:do not|don'?t|dont) know\b",
    r"\bno idea\b",
    r"\b(?:can|could|was|were|is)(?:not|n'?t| not) (?:be )?(?:determine|determined|find|found|answer|answered|tell|"
    r"locate|located|verify|verified|identify|identified|confirm|confirmed)\b",
    r"\bunable to (?:find|determine|answer|locate|verify|identify|confirm)\b",
    r"\bno (?:answer|information|relevant|data|results?|evidence|mention)\b",
    r"\binsufficient (?:information|evidence|data)\b",
    r"\bnot (?:mentioned|available|specified|stated|provided|determinable)\b",
    r"\b(?:does|did|do)(?: not|n'?t) (?:mention|say|state|specify|list|include|contain)\b",
    r"^\s*(?:n/?a|none|null|nothing|-+|\?+)\s*\.?\s*$",
]
_GIVE_UP = re.compile("|".join(GIVE_UP_PATTERNS), re.I)
MAX_ANSWER_TOKENS = 60  # longer answers (an essay, a pasted page) are never correct by rule
_PARENS = re.compile(r"\s*[\(\[][^\(\)\[\]]*[\)\]]")
# Words too common to count as an overlap with the gold.
_COMMON = {"of", "in", "on", "at", "to", "and", "or", "for", "by", "with", "from", "is", "was", "it", "its",
           "he", "she", "they", "his", "her", "their", "be", "as", "that", "this", "which", "who", "answer",
           "page", "article", "section", "according", "found", "not", "no"}


_ABBREVIATIONS = {"st": "saint", "mt": "mount", "ft": "fort", "jr": "junior", "sr": "senior", "dr": "doctor",
                  "gen": "general", "pres": "president", "univ": "university", "co": "company", "corp": "corporation"}


@dataclass
class Match:
    """The outcome of comparing one answer with the gold answer."""

    category: str            # "correct", "incorrect", "gave_up" or "unsure"
    how: str                 # which rule decided (exact, date, containment, list, f1, partial, hedge, ...)
    alias: str = ""          # the gold alias that matched best
    f1: float = 0.0          # best token F1 over the aliases


def gold_aliases(gold: str | Iterable[str]) -> list[str]:
    """Aliases of a gold answer: a list, or one string with alternatives split on `|`."""
    items = [gold] if isinstance(gold, str) else list(gold)
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in str(item).split("|") if part.strip())
    return out


def is_give_up(answer: str | None) -> bool:
    """True for a missing/empty answer or one with a give-up phrase anywhere in it."""
    if answer is None or not answer.strip():
        return True
    return _GIVE_UP.search(answer.replace("\u2019", "'")) is not None


def _beyond_giving_up(answer: str) -> str | None:
    """What an answer says besides giving up: its sentences without a give-up phrase, and in a
    sentence with one, what follows a "but"/"however". None: the answer gives up as a whole."""
    kept: list[str] = []
    for sentence in shape.sentences(answer):
        if not is_give_up(sentence):
            kept.append(sentence)
            continue
        rest = shape.after_contrast(sentence)
        if rest is not None and not is_give_up(rest):
            kept.append(rest)
    text = " ".join(kept).strip()
    return text if normalize_tokens(text) else None


def gives_up_as_a_whole(answer: str | None) -> bool:
    """True for a missing answer or one that says nothing but that it gives up."""
    return answer is None or not answer.strip() or (is_give_up(answer) and _beyond_giving_up(answer) is None)


def token_f1(pred: list[str], gold: list[str], question: set[str] = frozenset()) -> float:
    """Token F1 up to light plurals (not for an answer word taken from the question)."""
    gold_set = set(gold)
    pred_keys = [t if t in question and t not in gold_set else _stem(t) for t in pred]
    common = sum((Counter(pred_keys) & Counter(map(_stem, gold))).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@functools.lru_cache(maxsize=1 << 16)
def _stem(token: str) -> str:
    if len(token) > 3 and token.isalpha() and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _same(g: str, p: str, question: set[str], dates: bool = True) -> bool:
    """Is answer token `p` the gold token `g`? (`dates`: a more specific date counts)"""
    if g == p:
        return True
    if dates and g.isdigit() and len(g) == 4 and p.startswith(f"date_{g}"):
        return True  # a date in the gold year
    if dates and g.startswith("date_") and p.startswith(g + "_"):
        return True  # a day in the gold month
    if _ABBREVIATIONS.get(g) == p or _ABBREVIATIONS.get(p) == g:
        return True  # "st" / "saint"
    # a light plural, unless one of the two forms is the question's own word
    return _stem(g) == _stem(p) and (g in question) == (p in question)


def find_run(longer: list[str], shorter: list[str], question: set[str] = frozenset(), dates: bool = True) -> int:
    """Start of `shorter` as a token run inside `longer` (token equivalence above), else -1."""
    n = len(shorter)
    if not n or n > len(longer):
        return -1
    first = shorter[0]
    for i in range(len(longer) - n + 1):
        if longer[i] != first and not _same(first, longer[i], question, dates):
            continue
        if all(shorter[k] == longer[i + k] or _same(shorter[k], longer[i + k], question, dates) for k in range(1, n)):
            return i
    return -1


def _answer_forms(answer: str) -> tuple[list[str], list[str]]:
    return normalize_tokens(answer), normalize_tokens(answer, drop_asides=False)


def _no_initials(tokens: list[str]) -> list[str]:
    """Without single-letter initials ("omar n bradley" -> "omar bradley")."""
    return [t for t in tokens if not (len(t) == 1 and t.isalpha())]


def _gold_forms(alias: str) -> list[list[str]]:
    forms = [normalize_tokens(alias)]
    with_asides = normalize_tokens(alias, drop_asides=False)
    return forms + ([with_asides] if with_asides != forms[0] else [])


def _spans_whole_segments(answer: str, gold: list[str], question: set[str]) -> tuple[list[str], list[str]] | None:
    """The answer's other list items (before, after) when the gold is one or more whole items of
    it, else None."""
    segs = shape.segments(answer)
    toks = [normalize_tokens(s) for s in segs]
    for i in range(len(segs)):
        joined: list[str] = []
        for j in range(i, len(segs)):
            joined += toks[j]
            if len(joined) == len(gold) and find_run(joined, gold, question) == 0:
                return ([s for k, s in enumerate(segs[:i]) if toks[k]],
                        [s for k, s in enumerate(segs[j + 1 :], j + 1) if toks[k]])
            if len(joined) >= len(gold):
                break
    return None


def _guard(answer: str, tokens: list[str], start: int, gold: list[str], alias: str, question: set[str]) -> Match | None:
    """Why an answer that contains the gold is still not correct (None: nothing against it)."""
    if shape.negated_at(tokens, start):
        return Match("incorrect", "negated", alias)
    if shape.corrects_itself(answer):
        return Match("incorrect", "self_contradiction", alias)
    if shape.hedges(answer):
        return Match("incorrect", "hedge", alias)
    if shape.offers_alternatives(answer) and not shape.offers_alternatives(alias):
        return Match("incorrect", "candidates", alias)
    others = _spans_whole_segments(answer, gold, question)
    if others is not None:
        before, after = ([s for s in side if shape.same_type(s, alias)] for side in others)
        listed = sum(shape.item_like(s) for side in others for s in side)
        if len(before) + len(after) >= 2 or listed >= 3:
            return Match("incorrect", "candidates", alias)
        qualified = "," in alias and after and not before and not _list_items(alias)  # "Sabattus, Maine, USA"
        if ((before or after) and not qualified) or listed == 2:
            return Match("unsure", "another_candidate", alias)
    if question and set(gold) <= question:  # the gold is in the question: echoing the question must not pass
        rest = tokens[:start] + tokens[start + len(gold):]
        echoed = sum(t in question for t in rest)
        if echoed >= 4 and echoed >= 0.8 * len(rest):
            return Match("unsure", "restates_question", alias)
    capitalised, words = shape.capitalised_words(answer, set(gold), question | _COMMON)
    if capitalised >= 2 and capitalised > 0.75 * words:  # a bag of names: "MIT Harvard Stanford Yale"
        return Match("incorrect" if capitalised >= 4 else "unsure", "name_list", alias)
    gold_numbers = numbers_in(gold)
    extra_numbers = numbers_in(tokens) - gold_numbers
    if gold_numbers and any(not any(_same(g, p, question) for g in gold_numbers) for p in extra_numbers):
        return Match("unsure", "other_numbers", alias)
    return None


def _list_items(alias: str) -> list[list[str]]:
    """The items of a list gold; "Sabattus, Maine" (two parts, one comma, no "and") is one name."""
    parts = shape.segments(alias)
    if len(parts) == 2 and alias.count(",") == 1 and not re.search(r"\band\b|&|;", alias, re.I):
        return []
    items = [normalize_tokens(s) for s in parts]
    return [t for t in items if t] if len(items) >= 2 else []


def _match_list(answer: str, tokens: list[str], alias: str, question: set[str]) -> Match | None:
    items = _list_items(alias)
    if not items:
        return None
    found = [find_run(tokens, item, question) >= 0 for item in items]
    if not any(found):
        return None
    if not all(found):  # "X and Y" may be one name ("Handbags and Gladrags"): only a comma list is sure
        return Match("incorrect" if re.search(r"[,;]", alias) else "unsure", "list_missing_item", alias)
    if shape.hedges(answer) or shape.corrects_itself(answer) or (shape.offers_alternatives(answer) and not shape.offers_alternatives(alias)):
        return Match("incorrect", "list_hedged", alias)
    for seg in shape.segments(answer):
        seg_tokens = normalize_tokens(seg)
        if shape.item_like(seg) and seg_tokens and not any(find_run(seg_tokens, item, question) >= 0 for item in items):
            return Match("incorrect", "list_extra_item", alias)
    return Match("correct", "list", alias)


def _match_qualified(answer: str, tokens: list[str], alias: str, question: set[str]) -> Match | None:
    """A gold "Sound City Studios, Los Angeles" in an answer "... Sound City Studios in Los Angeles":
    both parts in order, at most three words apart."""
    parts = shape.segments(alias)
    if alias.count(",") != 1 or len(parts) != 2 or _list_items(alias):
        return None
    first, second = (normalize_tokens(p) for p in parts)
    start = find_run(tokens, first, question)
    if start < 0 or not second:
        return None
    tail = tokens[start + len(first) : start + len(first) + 3 + len(second)]
    if find_run(tail, second, question) < 0:
        return None
    return _guard(answer, tokens, start, first, alias, question) or Match("correct", "qualified", alias)


def _proper(alias: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_][\w'’.-]*", alias) if len(w) > 3]
    return bool(words) and all(w[0].isupper() for w in words)


def _acronym(short: list[str], long: list[str]) -> bool:
    """Is a word of `short` the initials of `long` ("nyu" / "new york university")?"""
    if len(long) < 2:
        return False
    initials = "".join(t[0] for t in long if t not in _COMMON and t[:1].isalpha())
    return len(initials) >= 2 and initials in short


def match_answer(
    answer: str | None,
    gold: str | Iterable[str],
    f1_threshold: float = 0.8,
    min_ratio: float = 0.5,
    question: str | None = None,
) -> Match:
    """Compares an answer with the gold answer (or its aliases); see the module docstring."""
    aliases = gold_aliases(gold)
    if not aliases:
        raise ValueError("gold answer is empty")
    if answer is None or not answer.strip():
        return Match("gave_up", "missing")
    if not normalize_tokens(_PARENS.sub(" ", answer), drop_asides=False):
        return Match("gave_up", "gave_up") if is_give_up(answer) else Match("incorrect", "empty_or_aside_only")
    asked = set(normalize_tokens(question)) if question else set()
    main, full = _answer_forms(answer)
    forms = {alias: _gold_forms(alias) for alias in aliases}
    for alias, golds in forms.items():
        for g in golds:
            for p in (main, full):
                if len(p) == len(g) and find_run(p, g, asked) == 0:
                    return Match("correct", "exact" if p == g else "date", alias, 1.0)
    if is_give_up(answer):
        rest = _beyond_giving_up(answer)
        if rest is None:
            return Match("gave_up", "gave_up")
        answer, (main, full) = rest, _answer_forms(rest)
    if len(main) > MAX_ANSWER_TOKENS:  # a page pasted as the answer: a rule cannot tell what it commits to
        found = any(find_run(main, g, asked) >= 0 for golds in forms.values() for g in golds)
        return Match("unsure" if found else "incorrect", "too_long")
    best = Match("incorrect", "no_match")
    for alias, golds in forms.items():
        for g in golds:
            for p in (main, full, _no_initials(main)):
                start = find_run(p, g, asked)
                if start >= 0:
                    return _guard(answer, p, start, g, alias, asked) or Match("correct", "containment", alias, token_f1(p, g))
        gold_numbers, answer_numbers = set().union(*map(numbers_in, golds)), numbers_in(full)
        if gold_numbers and answer_numbers and not any(_same(a, b, asked) for a in gold_numbers for b in answer_numbers):
            if best.category != "unsure":
                best = Match("incorrect", "number_mismatch", alias, token_f1(main, golds[0], asked))
            continue
        qualified = _match_qualified(answer, main, alias, asked)
        if qualified is not None:
            return qualified
        listed = _match_list(answer, main, alias, asked)
        if listed is not None:
            return listed
        g = golds[0]
        f1 = token_f1(main, g, asked)
        if f1 >= f1_threshold and numbers_in(main) == numbers_in(g):
            return _guard(answer, main, 0, g, alias, asked) or Match("correct", "f1", alias, f1)
        if main and find_run(g, main, asked, dates=False) >= 0:  # the answer is a part of the gold
            numbers = numbers_in(g)
            units = [t for t in g if t not in numbers]
            if numbers and set(main) == numbers and len(units) <= 2 and not _proper(alias):
                return Match("correct", "number_only", alias, f1)  # "8" for "8 seasons"
            if _proper(alias) and len(main) / len(g) >= min_ratio and not _list_items(alias):
                return _guard(answer, main, 0, main, alias, asked) or Match("correct", "partial_name", alias, f1)
            best = Match("unsure", "partial", alias, f1)
            continue
        shared = {_stem(t) for t in main if t not in _COMMON} & {_stem(t) for t in g if t not in _COMMON}
        if shared or _acronym(main, g) or _acronym(g, main):
            best = Match("unsure", "overlap" if shared else "acronym", alias, f1)
        elif best.category != "unsure" and f1 >= best.f1:
            best = Match("incorrect", "no_match", alias, f1)
    if best.category == "unsure" and asked and set(main) <= asked:
        return Match("incorrect", "question_words", best.alias, best.f1)  # "Twisters" for "... Twisters a new chapter of?"
    return best
