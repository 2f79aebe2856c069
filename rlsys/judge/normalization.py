"""Answer normalisation for the rule judge: text -> comparable tokens.

Two phrasings of the same answer should give the same tokens: case, accents, punctuation,
articles, whitespace and unicode dashes are dropped; number words, thousands separators,
scale words ("90 million"), ordinals and percentages become canonical numbers; dates in the
usual formats become one token `date_YYYY_MM_DD` (or `date_YYYY_MM`); parenthesised asides
are removed; leading boilerplate ("The answer is") is stripped; possessives lose their `'s`
(`University’s` -> `university`); vulgar fractions become decimals (`½` -> `0.5`, `2½` -> `2.5`);
`a hundred` is 100 and `$90 m` / `90 m dollars` is 90 million.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ]
    )
    for name in names
}
_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
    "seventieth": 70, "eightieth": 80, "ninetieth": 90, "hundredth": 100,
}
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}
SCALE_ABBREVIATIONS = {"k": "thousand", "m": "million", "mn": "million", "bn": "billion"}
ARTICLES = {"a", "an", "the"}
# Unit words and their abbreviations compare equal.
UNIT_ABBREVIATIONS = {
    "kilobytes": "kb", "kilobyte": "kb", "megabytes": "mb", "megabyte": "mb", "gigabytes": "gb", "gigabyte": "gb",
    "kilometres": "km", "kilometers": "km", "kilometre": "km", "kilometer": "km", "kilograms": "kg", "kilogram": "kg",
    "centimetres": "cm", "centimeters": "cm", "millimetres": "mm", "millimeters": "mm", "kph": "kmh",
}
# Dropped on both sides: currency words and hedges ("about 50%", "approximately 16").
DROPPED_WORDS = ARTICLES | {"dollars", "dollar", "usd", "about", "approximately", "approx", "around", "roughly", "circa", "nearly", "some"}

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"), "-")
_QUOTES = dict.fromkeys(map(ord, "\u2018\u2019\u201b\u2032\u00b4`"), "'") | dict.fromkeys(map(ord, "\u201c\u201d\u201e\u2033"), '"')
_BOILERPLATE = re.compile(
    r"^\s*(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*|it\s+(?:is|was)\s+|they\s+(?:are|were)\s+)", re.I
)
_FRACTIONS = {"\u00bd": ".5", "\u00bc": ".25", "\u00be": ".75", "\u2153": ".333333", "\u2154": ".666667", "\u215b": ".125"}
_FRACTION_RE = re.compile(r"(\d*)\s*([" + "".join(_FRACTIONS) + "])")
# "90 m" is 90 million only next to money: "$90 m", "90 m dollars" ("90 m" alone may be metres)
_MONEY_SCALE = re.compile(r"(?<=\d)\s+(m|mn|bn|k)\b(?=\s*(?:dollars?|usd|euros?|pounds?)\b)|(?<=[$£€¥]\d)\s*(m|mn|bn|k)\b")
_PARENS = re.compile(r"\s*[\(\[][^\(\)\[\]]*[\)\]]")
_ORD_SUFFIX = r"(?:st|nd|rd|th)?"
_DATE_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str, str]]] = [
    # 2022-06-13, 2022/06/13, 2022.06.13
    (re.compile(r"\b(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\b"), ("y", "m", "d")),
    # June 13, 2022 / June 13th 2022
    (re.compile(rf"\b(?P<m>{_MONTH_RE})\.?\s+(?P<d>\d{{1,2}}){_ORD_SUFFIX},?\s+(?P<y>\d{{4}})\b"), ("y", "m", "d")),
    # 13 June 2022 / 13th of June, 2022
    (re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD_SUFFIX}\s+(?:of\s+)?(?P<m>{_MONTH_RE})\.?,?\s+(?P<y>\d{{4}})\b"), ("y", "m", "d")),
    # 06/13/2022 (US) or 13/06/2022, 13.06.2022 (day first when the first number exceeds 12)
    (re.compile(r"\b(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>\d{4})\b"), ("y", "a", "b")),
    # June 2022
    (re.compile(rf"\b(?P<m>{_MONTH_RE})\.?,?\s+(?P<y>\d{{4}})\b"), ("y", "m", "")),
]


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _month(value: str) -> int:
    return MONTHS[value] if value in MONTHS else int(value)


def _date_token(match: re.Match[str], fields: tuple[str, str, str]) -> str:
    groups = match.groupdict()
    year = int(groups["y"])
    if "a" in groups:  # numeric day/month order: US month-first unless that is impossible
        first, second = int(groups["a"]), int(groups["b"])
        month, day = (second, first) if first > 12 else (first, second)
    else:
        month = _month(groups["m"])
        day = int(groups["d"]) if fields[2] else 0
    if not 1 <= month <= 12 or not 0 <= day <= 31:
        return match.group(0)
    return f" date_{year:04d}_{month:02d}" + (f"_{day:02d} " if day else " ")


def canonical_dates(text: str) -> str:
    """Rewrites dates (lower-case text) as `date_YYYY_MM_DD` / `date_YYYY_MM` tokens."""
    for pattern, fields in _DATE_PATTERNS:
        text = pattern.sub(lambda m, f=fields: _date_token(m, f), text)
    return text


def format_number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _is_number(token: str) -> bool:
    return token[:1].isdigit() and _NUMBER.fullmatch(token) is not None


def _words_to_numbers(tokens: list[str]) -> list[str]:
    """Replaces runs of number words ("one hundred and sixty-one", "fifth") and a number
    followed by a scale word ("90 million", "1.5 bn") with one canonical number."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "a" and i + 1 < len(tokens) and tokens[i + 1] in SCALES:  # "a hundred", "a million"
            tokens = tokens[:i] + ["1"] + tokens[i + 1 :]
            tok = "1"
        starts_digit = _is_number(tok)
        if not (starts_digit or tok in UNITS or tok in TENS or tok in ORDINALS):
            out.append(tok)
            i += 1
            continue
        total, current = 0.0, float(tok) if starts_digit else 0.0
        j = i + 1 if starts_digit else i
        while j < len(tokens):
            t = tokens[j]
            nxt = tokens[j + 1] if j + 1 < len(tokens) else ""
            small = UNITS.get(t, ORDINALS.get(t))
            if small is not None and not starts_digit and current % 10 == 0 and (current % 100 == 0 or small < 10):
                current += small
                j += 1
                if t in ORDINALS:
                    break  # an ordinal ends the number
            elif t in TENS and not starts_digit and current % 100 == 0:
                current += TENS[t]
                j += 1
            elif t == "hundred" and 0 < current < 100 and current.is_integer():
                current *= 100
                j += 1
            elif t in SCALES and t != "hundred" and current > 0:
                total += current * SCALES[t]
                current = 0.0
                j += 1
            elif t == "and" and j > i and tokens[j - 1] in SCALES and (nxt in UNITS or nxt in TENS):
                j += 1
            else:
                break
        if j == i:  # defensive: never stall
            out.append(tok)
            i += 1
            continue
        out.append(format_number(total + current))
        i = j
    return out


def _fractions(text: str) -> str:
    return _FRACTION_RE.sub(lambda m: (m.group(1) or "0") + _FRACTIONS[m.group(2)], text)


def _money_scale(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        return " " + SCALE_ABBREVIATIONS[m.group(1) or m.group(2)]

    # `[$£€¥]\d` lookbehind covers one digit; longer amounts: rewrite "$123 m" in two steps
    text = re.sub(r"([$£€¥]\d[\d,.]*)\s*(m|mn|bn|k)\b", lambda m: m.group(1) + " " + SCALE_ABBREVIATIONS[m.group(2)], text)
    return _MONEY_SCALE.sub(one, text)


def normalize_tokens(text: str, drop_asides: bool = True) -> list[str]:
    """The comparable tokens of an answer (see the module docstring)."""
    if len(text) > 300:  # page windows (grounding) are not worth caching; answers and golds are
        return _normalize(text, drop_asides)
    return list(_normalize_cached(text, drop_asides))


def clear_cache() -> None:
    """Forget cached normalisations (benchmarks measure cold answers)."""
    _normalize_cached.cache_clear()


@functools.lru_cache(maxsize=1 << 14)
def _normalize_cached(text: str, drop_asides: bool) -> tuple[str, ...]:
    return tuple(_normalize(text, drop_asides))


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_BETWEEN = re.compile(r"\bbetween\s+(\d+(?:\.\d+)?)\s*(?:%|percent)?\s+and\s+(?=\d)")
_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent)?\s*(?:-|\bto\b)\s*(?=\d)")
_PERCENT = re.compile(r"(\d)\s*(?:%|percent\b|per\s+cent\b)")
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(st|nd|rd|th)\b")
_ATTACHED_SCALE = re.compile(r"(?<=\d)(k|m|mn|bn)\b")
_CURRENCY = re.compile(r"\b(?:us|a|c|nz|hk)?[$£€¥₹]")
_POSSESSIVE = re.compile(r"(?<=[a-z])'s\b")
_NON_DECIMAL_DOT = re.compile(r"(?<!\d)\.|\.(?!\d)")
_PUNCTUATION = re.compile(r"[^\w.\s]")
_DIGIT = re.compile(r"\d")


def _normalize(text: str, drop_asides: bool) -> list[str]:
    if "`" in text:
        text = text.replace("`", "'")
    if not text.isascii():
        text = _fractions(text)
        text = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES)
        text = strip_accents(text)
    text = _BOILERPLATE.sub("", text.lower().strip())
    if drop_asides and ("(" in text or "[" in text):
        stripped = _PARENS.sub("", text).strip()
        text = stripped or text
    if _DIGIT.search(text):  # dates, amounts, ordinals, percentages
        text = canonical_dates(text)
        text = _money_scale(text)
        text = _THOUSANDS.sub("", text)                        # 236,857 -> 236857
        text = _BETWEEN.sub(r"\1 to ", text)                   # between 1.5% and 2% -> 1.5 to 2%
        text = _RANGE.sub(r"\1 to ", text)                     # 1.5-2%, 1.5% to 2% -> 1.5 to 2%
        text = _PERCENT.sub(r"\1 percent", text)
        text = _ORDINAL_SUFFIX.sub("", text)                   # 14th -> 14
        text = _ATTACHED_SCALE.sub(lambda m: " " + SCALE_ABBREVIATIONS[m.group(1)], text)  # 90m
    text = text.replace("&", " and ")
    text = _CURRENCY.sub(" ", text)
    if "'" in text:
        text = _POSSESSIVE.sub("", text).replace("'", "")     # University's -> university; don't -> dont
    text = _NON_DECIMAL_DOT.sub(" ", text)                     # keep decimal points only
    text = _PUNCTUATION.sub(" ", text)
    tokens = [t for t in text.split() if t not in DROPPED_WORDS or t == "a"]  # "a hundred" = 100
    tokens = _words_to_numbers(tokens)
    return [UNIT_ABBREVIATIONS.get(t, t) for t in tokens if t not in ARTICLES]


def normalize(text: str, drop_asides: bool = True) -> str:
    return " ".join(normalize_tokens(text, drop_asides))


def numbers_in(tokens: list[str]) -> set[str]:
    """The numeric tokens (and date tokens) among `tokens`."""
    return {t for t in tokens if _is_number(t) or t.startswith("date_")}
