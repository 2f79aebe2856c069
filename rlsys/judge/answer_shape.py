"""The shape of an answer, apart from what it names: does it hedge, contradict itself, list
several candidates, give up as a whole? Guards of the rule judge against answers that would
pass a plain "gold is in the answer" test without committing to the gold.
"""

from __future__ import annotations

import re

HEDGE = re.compile(
    r"\b(?:possibly|perhaps|maybe|might be|may be|could be|not sure|unsure|uncertain|"
    r"(?:a|my|best) guess|guessing|i (?:think|believe|suspect) (?:it )?(?:may|might|could)|"
    r"not (?:entirely |completely |fully )?(?:certain|confirmed|verified)|could not (?:confirm|verify)|"
    r"cannot (?:confirm|verify)|unconfirmed)\b",
    re.I,
)
# A correction after a first answer: "X. No, actually Y", "X. Wait, it was Y", "X, or rather Y".
CORRECTION = re.compile(
    r"\b(?:no|nope)\s*[,.;:!-]*\s*(?:actually|wait|it (?:was|is)|the answer is)\b|\bwait\b|\bcorrection\b|"
    r"\bor rather\b|\bi mean\b|\bscratch that\b|\bactually,? (?:it|the answer) (?:was|is)\b",
    re.I,
)
# Alternatives: "X or Y", "either X or Y", "X / Y".
ALTERNATIVES = re.compile(r"\beither\b|\bor\b|\s/\s", re.I)
NEGATIONS = {"not", "never", "nor", "isnt", "wasnt", "arent", "werent", "neither", "no"}
NEGATION_PAIRS = {("rather", "than"), ("instead", "of"), ("other", "than")}
CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|nevertheless|nonetheless|still)\b", re.I)
# not the comma of a number ("1,976,257"); a date's comma ("June 13, 2022") is removed first
SEPARATORS = re.compile(r"\s*(?:,(?!\d)|;|\band\b|&|\s/\s|\n)\s*", re.I)
_DATE_COMMA = re.compile(
    r"\b((?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?),(\s*\d{4})", re.I
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"[^\W_][\w'\u2019.+-]*")
# Words that open a clause rather than a list item ("..., which distributes it").
CLAUSE_WORDS = {"which", "who", "whom", "whose", "that", "where", "when", "while", "as", "according", "based",
                "both", "respectively", "with", "per", "from", "in", "on", "at", "by", "for", "since", "after",
                "though", "although", "but", "however", "i", "it", "he", "she", "they", "this", "its"}


_ASIDES = re.compile(r"\s*[\(\[][^\(\)\[\]]*[\)\]]")


def without_asides(answer: str) -> str:
    """The answer without parenthesised asides (what it commits to)."""
    return _ASIDES.sub(" ", answer)


def hedges(answer: str) -> bool:
    """Does the answer (outside its asides) hedge ("possibly", "might be", "not sure", "a guess")?"""
    return HEDGE.search(without_asides(answer)) is not None


def corrects_itself(answer: str) -> bool:
    """Does the answer take something back ("X. No, actually Y", "wait", "or rather")?"""
    return CORRECTION.search(without_asides(answer)) is not None


def offers_alternatives(answer: str) -> bool:
    """Does the answer (outside its asides) offer alternatives ("X or Y", "either ...", "X / Y")?"""
    return ALTERNATIVES.search(without_asides(answer)) is not None


def negated_at(tokens: list[str], start: int) -> bool:
    """Is the token run starting at `start` negated ("not X", "rather than X", "isn't X")?"""
    if start >= 1 and tokens[start - 1] in NEGATIONS:
        return True
    return start >= 2 and (tokens[start - 2], tokens[start - 1]) in NEGATION_PAIRS


def segments(answer: str) -> list[str]:
    """List items of an answer: split on commas, semicolons, `and`, `&`, ` / ` and newlines."""
    answer = _DATE_COMMA.sub(r"\1\2", answer)
    return [s.strip(" .!?:\"'") for s in SEPARATORS.split(answer) if s.strip(" .!?:\"'")]


def sentences(answer: str) -> list[str]:
    """The answer split into sentences."""
    return [s for s in _SENTENCE_END.split(answer.strip()) if s.strip()]


def capitalised_words(answer: str, gold: set[str], known: set[str]) -> tuple[int, int]:
    """(capitalised words, words) of the answer outside its asides and the gold's own words,
    not counting the first word of a sentence, articles or initials ("R.", "Jr."); a capitalised
    word in `known` (the question's, common words) counts as a word but not as capitalised."""
    capitalised = total = 0
    for sentence in sentences(without_asides(answer)):
        for k, word in enumerate(_WORD.findall(sentence)):
            key = re.sub(r"['\u2019]s$", "", word.lower()).strip(".'\u2019")
            if k == 0 or key in gold or key in ("a", "an", "the") or (len(key) <= 2 and word[0].isupper()):
                continue
            total += 1
            capitalised += word[0].isupper() and key not in known
    return capitalised, total


def item_like(segment: str, max_words: int = 5) -> bool:
    """Could this segment be a list item (short, not a clause)?"""
    words = segment.split()
    return 0 < len(words) <= max_words and words[0].lower() not in CLAUSE_WORDS


def same_type(segment: str, gold: str) -> bool:
    """Could this list item be another candidate of the gold's kind: a name for a name (most of
    its longer words capitalised), a number for a number, any short item for a common noun?"""
    if not item_like(segment):
        return False
    if re.search(r"\d", gold):
        return re.search(r"\d", segment) is not None
    def proper(text: str) -> bool:
        words = [w for w in _WORD.findall(text) if len(w) > 2 and w.lower() not in ("and", "the", "of", "for")]
        return bool(words) and sum(w[0].isupper() for w in words) * 2 >= len(words) + (len(words) > 1)
    return proper(segment) if proper(gold) else True


def after_contrast(answer: str) -> str | None:
    """The text after the last contrast word ("..., but the page says X") if any follows it."""
    matches = list(CONTRAST.finditer(answer))
    if not matches:
        return None
    rest = answer[matches[-1].end():].strip(" ,.;:")
    return rest or None
