"""Word pools and name makers for the synthetic corpus: fictional, pronounceable, deterministic.

Names are built from syllables so no model can know the facts attached to them; near-duplicate
variants (one letter or one word changed) make distractors for search.
"""

from __future__ import annotations

import random

FIRST_NAMES = [
    "Maren", "Tobias", "Ilse", "Corwin", "Adela", "Bastian", "Liora", "Emeric", "Sabine", "Osric",
    "Thea", "Leopold", "Mirela", "Anselm", "Judit", "Casimir", "Elodie", "Florian", "Greta", "Hugo",
    "Ingrid", "Jarek", "Katalin", "Lucan", "Magda", "Nikolai", "Orla", "Pavel", "Rosalind", "Stellan",
    "Tamsin", "Ulric", "Vera", "Wendel", "Yara", "Zdenek", "Alba", "Benedikt", "Clio", "Dorian",
]
SURNAME_HEADS = ["Tal", "Vor", "Ashen", "Bel", "Cor", "Dun", "Esk", "Fen", "Gal", "Hal", "Ister",
                 "Kel", "Lind", "Mor", "Nor", "Oster", "Pell", "Quen", "Ros", "Sten", "Tor", "Ul",
                 "Varn", "Wester", "Zel", "Brom", "Cask", "Dres", "Marl", "Tresk"]
SURNAME_TAILS = ["dovic", "ander", "berg", "cott", "ington", "holm", "ström", "wick", "ovan", "mere",
                 "ley", "stad", "rin", "acre", "wright", "ovsky", "ell", "ford", "hart", "quist"]
PLACE_HEADS = ["Vel", "Ash", "Bran", "Cal", "Dor", "Ember", "Frost", "Glen", "Har", "Iver", "Kil",
               "Lan", "Myr", "Nes", "Orm", "Pen", "Rav", "Sil", "Thorn", "Wyn", "Yar", "Zan", "Crag", "Mist"]
PLACE_TAILS = ["mora", "ford", "holm", "wick", "stead", "bury", "dale", "haven", "mouth", "gate",
               "field", "moor", "ness", "ton", "vik", "ara", "eth", "wold"]
PLACE_VARIANT_SUFFIXES = [" Heights", " Falls", " Junction", " Minor", " Upon Sea"]
PLACE_VARIANT_PREFIXES = ["New ", "Upper ", "Lower ", "East ", "Port "]
ADJECTIVES = ["Amber", "Silent", "Crimson", "Hollow", "Gilded", "Northern", "Broken", "Quiet",
              "Winter", "Iron", "Velvet", "Distant", "Salt", "Paper", "Glass", "Ashen", "Last", "Sleeping"]
NOUNS = ["Lantern", "Harbour", "Orchard", "Meridian", "Cathedral", "Tide", "Mirror", "Garden",
         "Archive", "Bridge", "Compass", "Hourglass", "Lighthouse", "Ferryman", "Loom", "Citadel", "Mill"]
COUNTRIES = ["Ostravia", "Kelland", "Marovia", "Dunmere", "Vessaly", "Carbrin", "Tessary", "Norvale"]
COUNTRY_ADJ = {"Ostravia": "Ostravian", "Kelland": "Kellish", "Marovia": "Marovian", "Dunmere": "Dunmerian",
               "Vessaly": "Vessalian", "Carbrin": "Carbrinese", "Tessary": "Tessarian", "Norvale": "Norvalian"}
REGIONS = ["Highmarch", "Saltcoast", "Greywater", "Eastreach", "Lowfold", "Stonevale", "Fernshire"]
OCCUPATIONS = ["painter", "novelist", "composer", "architect", "botanist", "cartographer", "poet",
               "sculptor", "engineer", "astronomer", "film director", "playwright", "photographer"]
WORK_KINDS = ["novel", "film", "album", "opera", "painting", "poetry collection", "stage play"]
WORK_VERB = {"novel": "written", "film": "directed", "album": "recorded", "opera": "composed",
             "painting": "painted", "poetry collection": "written", "stage play": "written"}
INDUSTRIES = ["shipping", "brewing", "publishing", "clockmaking", "textile", "railway", "glassworks",
              "insurance", "printing", "shipbuilding", "pharmaceutical", "porcelain"]
ORG_SUFFIXES = ["Company", "Group", "Works", "& Sons", "Society", "Consortium"]
AWARDS = ["Halvard Prize", "Order of the Silver Heron", "Meridian Medal", "Ostrel Award",
          "Crown of Letters", "Golden Lantern Award", "Varnholt Fellowship", "Tessary Laurel"]
FESTIVALS = ["Lantern Night", "Harvest of Bells", "River Fair", "Feast of Saint Orla",
             "Midwinter Market", "Kite Day", "Founders' Week", "Salt Moon Festival"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAME_HEADS)}{rng.choice(SURNAME_TAILS)}"


def place_name(rng: random.Random) -> str:
    return rng.choice(PLACE_HEADS) + rng.choice(PLACE_TAILS)


def river_name(rng: random.Random) -> str:
    return rng.choice(PLACE_HEADS) + rng.choice(["en", "a", "ey", "wyn", "ash", "oth"])


def work_title(rng: random.Random) -> str:
    form = rng.randrange(3)
    if form == 0:
        return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if form == 1:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}s"
    return f"The {rng.choice(NOUNS)} of {place_name(rng)}"


def org_name(rng: random.Random) -> tuple[str, str]:
    """(name, industry)."""
    industry = rng.choice(INDUSTRIES)
    head = f"{rng.choice(SURNAME_HEADS)}{rng.choice(SURNAME_TAILS)}"
    return f"{head} {industry.title()} {rng.choice(ORG_SUFFIXES)}", industry


def _shift_last_vowel(word: str, rng: random.Random) -> str:
    for i in range(len(word) - 1, 0, -1):
        if word[i] in "aeiou":
            return word[:i] + rng.choice([v for v in "aeiou" if v != word[i]]) + word[i + 1 :]
    return word + "e"


def variant_of(name: str, kind: str, rng: random.Random) -> str:
    """A near-duplicate of `name`: a distractor that search must tell apart."""
    words = name.split(" ")
    if kind == "person":
        if rng.random() < 0.5:
            return f"{rng.choice(FIRST_NAMES)} {' '.join(words[1:])}"          # same surname
        return f"{words[0]} {_shift_last_vowel(words[-1], rng)}"               # one letter off
    if kind == "place":
        roll = rng.random()
        if roll < 0.4:
            return name + rng.choice(PLACE_VARIANT_SUFFIXES)
        if roll < 0.8:
            return rng.choice(PLACE_VARIANT_PREFIXES) + name
        return _shift_last_vowel(name, rng)
    if kind == "work":
        if rng.random() < 0.3:
            return "Return to " + " ".join(words[1:] if words[0] == "The" else words)
        last = words[-1]
        words[-1] = last[:-1] if last.endswith("s") else last + "s"            # singular/plural
        return " ".join(words)
    # organisation: same head, another suffix
    head = " ".join(words[:-1]) if words[-1] in ORG_SUFFIXES else " ".join(words[:-2])
    others = [s for s in ORG_SUFFIXES if not name.endswith(s)]
    return f"{head} {rng.choice(others)}"


def revision_line(rng: random.Random) -> str:
    rev = rng.randrange(900_000_000, 1_200_000_000)
    ts = f"20{rng.randrange(19, 25)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T" \
         f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z"
    return f"*Revision ID: {rev} | Timestamp: {ts}*"
