"""A deterministic synthetic corpus: fictional people, places, works and organisations.

    pages, questions = generate_synthetic(300, seed=0)

Pages have the real corpus's markdown shape (`# Title`, revision line, `---`, infobox rows
`| key = value`, `##`/`###` sections, `[text](target)` links); each fact sits in one section,
about a fifth of the entities are near-duplicate names of others (distractors), and each fact
gets a question with a short gold answer, its gold page and gold section. Question ids are
stable (`syn-<entity>-<relation>`); `split` is "test" for about 20% of them (by a hash of the id).
"""

from __future__ import annotations

import collections
import hashlib
import random
from dataclasses import dataclass, field

from rlsys.corpus import synthetic_names as nm
from rlsys.corpus import synthetic_pages as render
from rlsys.corpus.page import Page, page_id_for_title
from rlsys.corpus.types import Question

KIND_SHARES = [("person", 0.35), ("place", 0.25), ("work", 0.25), ("organisation", 0.15)]
DISTRACTOR_SHARE = 0.2
TEST_SHARE = 0.2


@dataclass
class Entity:
    """One fictional entity: its kind, unique name and facts (relation -> value)."""

    index: int
    kind: str
    name: str
    facts: dict = field(default_factory=dict)

    @property
    def page_id(self) -> str:
        return page_id_for_title(self.name)


def _kind_sequence(n: int, rng: random.Random) -> list[str]:
    kinds = [k for k, share in KIND_SHARES for _ in range(round(share * n))]
    base = ["person", "place", "work", "organisation"]
    while len(kinds) < n:
        kinds.append(base[len(kinds) % 4])
    kinds = kinds[:n]
    rng.shuffle(kinds)
    return kinds


def _fresh_name(kind: str, rng: random.Random, taken: set[str], earlier: list[Entity]) -> tuple[str, dict]:
    """A new unique name (a near-duplicate of an earlier same-kind entity ~20% of the time)."""
    same_kind = [e for e in earlier if e.kind == kind and "variant_of" not in e.facts]
    for attempt in range(200):
        extra: dict = {}
        if same_kind and rng.random() < DISTRACTOR_SHARE and attempt < 20:
            source = rng.choice(same_kind)
            name = nm.variant_of(source.name, kind, rng)
            extra = {"variant_of": source.name}
            if kind == "organisation":
                extra["industry"] = source.facts.get("industry")
        elif kind == "person":
            name = nm.person_name(rng)
        elif kind == "place":
            name = nm.place_name(rng)
        elif kind == "work":
            name = nm.work_title(rng)
        else:
            name, industry = nm.org_name(rng)
            extra = {"industry": industry}
        if attempt > 100:  # crowded pools: disambiguate with a numeral
            name = f"{name} {attempt - 99}"
        key = page_id_for_title(name)
        if key not in taken:
            taken.add(key)
            if kind == "organisation" and not extra.get("industry"):
                extra["industry"] = next((i for i in nm.INDUSTRIES if i.title() in name), "trading")
            return name, extra
    raise RuntimeError("could not find a unique synthetic name")  # unreachable in practice


def _make_entities(n: int, rng: random.Random) -> list[Entity]:
    taken: set[str] = set()
    entities: list[Entity] = []
    for i, kind in enumerate(_kind_sequence(n, rng)):
        name, extra = _fresh_name(kind, rng, taken, entities)
        entities.append(Entity(i, kind, name, dict(extra)))
    return entities


def _assign_facts(entities: list[Entity], rng: random.Random) -> None:
    """Facts of every entity; references to other entities go by name (rendered as links)."""
    people = [e for e in entities if e.kind == "person"]
    places = [e for e in entities if e.kind == "place"]
    orgs = [e for e in entities if e.kind == "organisation"]
    pick_place = (lambda: rng.choice(places).name) if places else (lambda: nm.place_name(rng))
    pick_person = (lambda: rng.choice(people).name) if people else (lambda: nm.person_name(rng))
    for e in entities:
        f = e.facts
        f["country"] = rng.choice(nm.COUNTRIES)
        if e.kind == "person":
            born = rng.randrange(1780, 1960)
            f.update(occupation=rng.choice(nm.OCCUPATIONS), birth_year=born, birthplace=pick_place(),
                     spouse=nm.person_name(rng), death_year=born + rng.randrange(38, 92),
                     award=rng.choice(nm.AWARDS), award_year=born + rng.randrange(30, 60))
        elif e.kind == "place":
            f.update(place_type=rng.choice(["town", "village", "city", "port town"]),
                     region=rng.choice(nm.REGIONS), founded=rng.randrange(900, 1850),
                     founder=nm.person_name(rng), river=nm.river_name(rng),
                     population=rng.randrange(800, 480_000), census=rng.choice([2001, 2011, 2016, 2021]),
                     mayor=nm.person_name(rng), festival=rng.choice(nm.FESTIVALS),
                     festival_month=rng.choice(nm.MONTHS))
        elif e.kind == "work":
            kind = rng.choice(nm.WORK_KINDS)
            f.update(work_kind=kind, creator=pick_person(), year=rng.randrange(1820, 2015),
                     protagonist=nm.person_name(rng), setting=pick_place(),
                     publisher=rng.choice(orgs).name if orgs else nm.org_name(rng)[0],
                     award=rng.choice(nm.AWARDS), rerelease=rng.random() < 0.5)
            f["award_year"] = f["year"] + rng.randrange(1, 30)
        else:
            f.update(org_type=rng.choice(["company", "cooperative", "family firm"]),
                     founded=rng.randrange(1750, 1990), founder=pick_person(), headquarters=pick_place(),
                     employees=rng.randrange(40, 90_000), ceo=nm.person_name(rng),
                     branches=rng.randrange(2, 40))


# relation -> (gold section slug, answer, question templates); templates use {name} and facts.
def _relations(e: Entity) -> dict[str, tuple[str, str, list[str]]]:
    f = e.facts
    if e.kind == "person":
        return {
            "birth_year": ("early_life", str(f["birth_year"]), [
                "In what year was {name} born?", "What is the birth year of the {occupation} {name}?",
                "{name} was born in which year?"]),
            "birthplace": ("early_life", f["birthplace"], [
                "Where was {name} born?", "In which town was the {occupation} {name} born?",
                "What is the birthplace of {name}?"]),
            "spouse": ("personal_life", f["spouse"], [
                "Who was {name} married to?", "Whom did the {occupation} {name} marry?",
                "What was the name of {name}'s spouse?"]),
            "death_year": ("death_and_legacy", str(f["death_year"]), [
                "In what year did {name} die?", "When did the {occupation} {name} die?",
                "{name} died in which year?"]),
            "award": ("honours", f["award"], [
                "Which award did {name} receive in {award_year}?", "What honour was given to {name} in {award_year}?"]),
        }
    if e.kind == "place":
        return {
            "founded": ("history", str(f["founded"]), [
                "In what year was {name} founded?", "When was the {place_type} of {name} founded?",
                "{name} was established in which year?"]),
            "river": ("geography", f["river"], [
                "Which river flows through {name}?", "On which river does {name} lie?",
                "What river runs through the {place_type} of {name}?"]),
            "population": ("demographics", f"{f['population']:,}", [
                "What was the population of {name} at the {census} census?",
                "How many people lived in {name} according to the {census} census?"]),
            "mayor": ("local_council", f["mayor"], [
                "Who is the mayor of {name}?", "Who leads the council of {name} as mayor?"]),
            "festival_month": ("festivals", f["festival_month"], [
                "In which month is the {festival} held in {name}?", "When in the year does {name} celebrate the {festival}?"]),
        }
    if e.kind == "work":
        kind = f["work_kind"]
        verb = nm.WORK_VERB[kind]
        award_slug = "reception_2" if f["rerelease"] else "reception"
        return {
            "creator": ("background", f["creator"], [
                "Who created the " + kind + " {name}?", "By whom was {name} " + verb + "?",
                "Who is the author of the " + kind + " {name}?"]),
            "year": ("release", str(f["year"]), [
                "In what year was {name} released?", "When was the " + kind + " {name} first published?",
                "{name} came out in which year?"]),
            "protagonist": ("synopsis", f["protagonist"], [
                "Who is the protagonist of {name}?", "Which character is at the centre of the " + kind + " {name}?"]),
            "setting": ("synopsis", f["setting"], [
                "Where is {name} set?", "In which place does the " + kind + " {name} take place?"]),
            "publisher": ("release", f["publisher"], [
                "Who first released {name}?", "Which organisation published the " + kind + " {name}?"]),
            "award": (award_slug, f["award"], [
                "Which award did {name} win in {award_year}?", "What prize was the " + kind + " {name} given in {award_year}?"]),
        }
    return {
        "founded": ("founding", str(f["founded"]), [
            "In what year was {name} founded?", "When was the {industry} firm {name} established?",
            "{name} was founded in which year?"]),
        "founder": ("founding", f["founder"], [
            "Who founded {name}?", "Who established the {industry} business {name}?"]),
        "headquarters": ("operations", f["headquarters"], [
            "Where is {name} headquartered?", "In which town is the head office of {name}?"]),
        "employees": ("operations", f"{f['employees']:,}", [
            "How many people does {name} employ?", "What is the number of employees of {name}?"]),
        "ceo": ("leadership", f["ceo"], [
            "Who is the chief executive of {name}?", "Who runs {name} as its chief executive?"]),
    }


# "Which X …?" questions whose answer is the entity's own name: the page must be found by its
# content, not its title. Used only where the clue (a fresh person name) is unique in the corpus.
IDENTITY_CLUES = {
    "person": ("spouse", "personal_life", ["Which {occupation} was married to {clue}?",
                                           "Who was the spouse of {clue}?"]),
    "place": ("mayor", "local_council", ["Which {place_type} has {clue} as its mayor?",
                                         "Of which {place_type} is {clue} the mayor?"]),
    "work": ("protagonist", "synopsis", ["Which {work_kind} follows the character {clue}?",
                                         "In which {work_kind} is {clue} the protagonist?"]),
    "organisation": ("ceo", "leadership", ["Which {industry} {org_type} has {clue} as chief executive?",
                                           "Which {org_type} is run by the chief executive {clue}?"]),
}


def _identity_relation(e: Entity, clue_counts: collections.Counter, names: set[str]):
    key, slug, templates = IDENTITY_CLUES[e.kind]
    clue = e.facts[key]
    if clue_counts[clue] != 1 or clue in names:
        return None
    return slug, e.name, [t.replace("{clue}", clue) for t in templates]


def _split_of(qid: str, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}:{qid}".encode()).digest()
    return "test" if digest[0] < int(256 * TEST_SHARE) else "train"


def _questions(entities: list[Entity], seed: int) -> list[Question]:
    out: list[Question] = []
    clue_counts = collections.Counter(v for e in entities for k, v in e.facts.items()
                                      if k in ("spouse", "mayor", "protagonist", "ceo", "founder", "creator"))
    names = {e.name for e in entities}
    for e in entities:
        rng = random.Random(f"{seed}:q:{e.index}")
        relations = _relations(e)
        identity = _identity_relation(e, clue_counts, names)
        if identity is not None:
            relations["identity"] = identity
        for relation, (slug, answer, templates) in relations.items():
            qid = f"syn-{e.index:05d}-{relation}"
            text = rng.choice(templates).format(name=e.name, **e.facts)
            out.append(Question(id=qid, question=text, answer=answer, page_id=e.page_id,
                                section_id=f"{e.page_id}:{slug}", split=_split_of(qid, seed)))
    return out


def synthetic_entities(n_entities: int, seed: int = 0) -> list[Entity]:
    """The entities (names and facts) behind `generate_synthetic(n_entities, seed)`."""
    if n_entities < 1:
        raise ValueError(f"n_entities must be at least 1 (got {n_entities})")
    rng = random.Random(seed)
    entities = _make_entities(n_entities, rng)
    _assign_facts(entities, rng)
    return entities


def generate_synthetic(n_entities: int, seed: int = 0) -> tuple[list[Page], list[Question]]:
    """`n_entities` fictional pages (one per entity) and their questions; same input, same output."""
    if n_entities < 1:
        raise ValueError(f"n_entities must be at least 1 (got {n_entities})")
    entities = synthetic_entities(n_entities, seed)
    ctx = render.Context.build(entities)
    pages = [render.render_page(e, ctx, random.Random(f"{seed}:p:{e.index}")) for e in entities]
    return pages, _questions(entities, seed)
