"""Does an answer mean the same as the gold answer? Normalised matching for the rule judge.

Order of checks, against each alias of the gold answer:
1. equal after normalisation (`normalization.normalize_tokens`), or a bare year / month
   gold answer matched by a more specific date;
2. a give-up phrase ("unknown", "not found", "I don't know", ...) -> gave up;
3. one contained in the other (as a token run) when shorter/longer >= `min_ratio`, and the
   gold's numbers all appear in the answer (forms without parenthesised asides only);
4. token F1 >= `f1_threshold`, with the numbers on both sides equal (so "1993" never
   matches "1994" however long the rest is).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

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
    r"^\s*(?:n/?a|none|null|nothing|-+|\?+)\s*\.?\s*$",
]
_GIVE_UP = re.compile("|".join(GIVE_UP_PATTERNS), re.I)


@dataclass
class Match:
    """The outcome of comparing one answer with the gold answer."""

    category: str            # "correct", "incorrect" or "gave_up"
    how: str                 # which rule decided: exact, date, containment, f1, gave_up, no_match
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
    """True for a missing/empty answer or one that says it could not find the answer."""
    if answer is None or not answer.strip():
        return True
    return _GIVE_UP.search(answer.replace("\u2019", "'")) is not None


def token_f1(pred: list[str], gold: list[str]) -> float:
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _contains(longer: list[str], shorter: list[str]) -> bool:
    n = len(shorter)
    return n > 0 and any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def _date_generalises(gold: list[str], pred: list[str]) -> bool:
    """A bare year (or month) gold answer is matched by a more specific date with that year."""
    if len(gold) != 1:
        return False
    g = gold[0]
    prefix = f"date_{g}" if re.fullmatch(r"\d{4}", g) else g if g.startswith("date_") else None
    return prefix is not None and len(pred) <= 2 and any(t.startswith(prefix) for t in pred)


def _match_alias(
    pred: list[str], gold: list[str], min_ratio: float, f1_threshold: float, containment: bool = True
) -> tuple[str | None, float]:
    if not gold or not pred:
        return None, 0.0
    f1 = token_f1(pred, gold)
    gold_nums, pred_nums = numbers_in(gold), numbers_in(pred)
    shorter, longer = sorted((pred, gold), key=len)
    if containment and len(shorter) / len(longer) >= min_ratio and _contains(longer, shorter) and gold_nums <= pred_nums:
        return "containment", f1
    if f1 >= f1_threshold and gold_nums == pred_nums:
        return "f1", f1
    return None, f1


def match_answer(
    answer: str | None,
    gold: str | Iterable[str],
    f1_threshold: float = 0.8,
    min_ratio: float = 0.5,
) -> Match:
    """Compares an answer with the gold answer (or its aliases); see the module docstring."""
    aliases = gold_aliases(gold)
    if not aliases:
        raise ValueError("gold answer is empty")
    if answer is None or not answer.strip():
        return Match("gave_up", "gave_up")
    variants = [normalize_tokens(answer)]
    with_asides = normalize_tokens(answer, drop_asides=False)
    if with_asides != variants[0]:
        variants.append(with_asides)
    best = Match("incorrect", "no_match")
    normalised_aliases = []
    for alias in aliases:
        gold_variants = [normalize_tokens(alias), normalize_tokens(alias, drop_asides=False)]
        for g in gold_variants:
            for p in variants:
                if p == g or _date_generalises(g, p):
                    return Match("correct", "exact" if p == g else "date", alias, 1.0)
        normalised_aliases.append((alias, gold_variants))
    if is_give_up(answer):
        return Match("gave_up", "gave_up")
    for alias, gold_variants in normalised_aliases:
        for gi, g in enumerate(gold_variants):
            for pi, p in enumerate(variants):
                # containment only between the forms without asides: "Child" is not "grooming (Child)"
                how, f1 = _match_alias(p, g, min_ratio, f1_threshold, containment=gi == 0 and pi == 0)
                if how is not None:
                    return Match("correct", how, alias, f1)
                if f1 > best.f1:
                    best = Match("incorrect", "no_match", alias, f1)
    return best
