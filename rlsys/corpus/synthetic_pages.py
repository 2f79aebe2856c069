"""Renders a synthetic entity as a markdown page in the real corpus's shape (see `synthetic.py`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rlsys.corpus import synthetic_names as nm
from rlsys.corpus.page import Page

FILLER = [
    "Contemporary accounts of this period are scarce, and several details remain disputed among historians.",
    "Local archives hold letters and ledgers from these years, most of them still uncatalogued.",
    "A short description appeared in a regional almanac, which later writers often quoted.",
    "The surviving records were partly destroyed in a fire at the district registry.",
    "Commentators have noted the influence of the surrounding landscape on this stage.",
    "Later editions of the standard reference works revised several of these dates.",
    "Visitors from the capital described the atmosphere as quiet but industrious.",
    "The episode is remembered chiefly through a handful of newspaper reports.",
    "Much of what is known comes from an unpublished memoir held in a private collection.",
    "Scholars continue to debate how much of this account can be trusted.",
]


@dataclass
class Context:
    """Everything a page may refer to: entities by name and a few reverse indexes."""

    by_name: dict
    works_by_creator: dict[str, list] = field(default_factory=dict)
    people_by_birthplace: dict[str, list] = field(default_factory=dict)

    @classmethod
    def build(cls, entities: list) -> "Context":
        ctx = cls({e.name: e for e in entities})
        for e in entities:
            if e.kind == "work":
                ctx.works_by_creator.setdefault(e.facts["creator"], []).append(e)
            elif e.kind == "person":
                ctx.people_by_birthplace.setdefault(e.facts["birthplace"], []).append(e)
        return ctx

    def link(self, name: str) -> str:
        """`[name](name)` for a name with a page, the plain name otherwise."""
        return f"[{name}]({name})" if name in self.by_name else name


def _filler(rng: random.Random, k: int = 2) -> str:
    return " ".join(rng.sample(FILLER, k))


def _see_also(e, ctx: Context, rng: random.Random) -> str:
    others = [n for n in rng.sample(list(ctx.by_name), min(4, len(ctx.by_name))) if n != e.name][:3]
    return "\n\n".join(f"* {ctx.link(n)}" for n in others) or "* (none)"


def _infobox(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n\n".join(f"| {k.ljust(width)} = {v}" for k, v in rows) + "\n\n}}"


def _person(e, ctx: Context, rng: random.Random) -> list[tuple[str, str]]:
    f = e.facts
    adj = nm.COUNTRY_ADJ[f["country"]]
    works = ctx.works_by_creator.get(e.name, [])
    work_text = (
        "Among the works attributed to them are " + ", ".join(f"*{ctx.link(w.name)}* ({w.facts['year']})" for w in works[:4]) + "."
        if works else f"Few of {e.name.split()[0]}'s early works survive."
    )
    return [
        ("infobox", _infobox([("name", e.name), ("occupation", f["occupation"]), ("nationality", adj)])),
        ("lead", f"**{e.name}** was a {adj} {f['occupation']} whose work was admired in the {nm.REGIONS[e.index % len(nm.REGIONS)]} region. {_filler(rng, 1)}"),
        ("## Early life", f"{e.name} was born in {f['birth_year']} in {ctx.link(f['birthplace'])}, the second of four children. "
                          f"Their father kept a small shop near the harbour. {_filler(rng)}"),
        ("## Career", f"{e.name.split()[0]} began working as a {f['occupation']} in their twenties. {_filler(rng, 1)}"),
        ("### Early work", f"The first commissions came from friends of the family. {_filler(rng, 1)}"),
        ("### Later work", f"{work_text} {_filler(rng, 1)}"),
        ("## Personal life", f"{e.name} married {f['spouse']}, with whom they lived for many years in a house outside the town. {_filler(rng, 1)}"),
        ("## Death and legacy", f"{e.name} died in {f['death_year']}. A collection of their papers was donated to a public library. {_filler(rng, 1)}"),
        ("## Honours", f"In {f['award_year']}, {e.name} received the {f['award']}. {_filler(rng, 1)}"),
        ("## See also", _see_also(e, ctx, rng)),
    ]


def _place(e, ctx: Context, rng: random.Random) -> list[tuple[str, str]]:
    f = e.facts
    natives = ctx.people_by_birthplace.get(e.name, [])
    notable = "\n\n".join(f"* {ctx.link(p.name)}, {p.facts['occupation']}" for p in natives[:5]) or "* No notable people are recorded."
    return [
        ("infobox", _infobox([("name", e.name), ("settlement_type", f["place_type"]),
                              ("country", f["country"]), ("region", f["region"])])),
        ("lead", f"**{e.name}** is a {f['place_type']} in the {f['region']} region of [{f['country']}]({f['country']}). {_filler(rng, 1)}"),
        ("## History", f"{e.name} was founded in {f['founded']} by {f['founder']}, a merchant who built the first mill. {_filler(rng)}"),
        ("## Geography", f"The {f['place_type']} lies on the banks of the {f['river']} River, surrounded by farmland and low hills. {_filler(rng, 1)}"),
        ("## Demographics", f"At the {f['census']} census, {e.name} had a population of {f['population']:,}. {_filler(rng, 1)}"),
        ("## Government", f"The {f['place_type']} is governed by an elected council. {_filler(rng, 1)}"),
        ("### Local council", f"The current mayor of {e.name} is {f['mayor']}. {_filler(rng, 1)}"),
        ("## Culture", f"{e.name} has a small museum and a theatre. {_filler(rng, 1)}"),
        ("### Festivals", f"The {f['festival']} is held in {e.name} every {f['festival_month']}, drawing visitors from across {f['country']}."),
        ("## Notable people", notable),
    ]


def _work(e, ctx: Context, rng: random.Random) -> list[tuple[str, str]]:
    f = e.facts
    kind, verb = f["work_kind"], nm.WORK_VERB[f["work_kind"]]
    reception = f"The {kind} received mixed reviews on its first appearance. {_filler(rng, 1)}"
    award = f"In {f['award_year']}, *{e.name}* won the {f['award']}."
    sections = [
        ("infobox", _infobox([("name", e.name), ("type", kind), ("language", nm.COUNTRY_ADJ[f["country"]])])),
        ("lead", f"***{e.name}*** is a {kind} first released in {f['country']}. {_filler(rng, 1)}"),
        ("## Background", f"*{e.name}* was {verb} by {ctx.link(f['creator'])} over several years. {_filler(rng)}"),
        ("## Synopsis", f"*{e.name}* follows {f['protagonist']}, and is set in {ctx.link(f['setting'])}. {_filler(rng, 1)}"),
        ("## Release", f"*{e.name}* was first released in {f['year']} by {ctx.link(f['publisher'])}. {_filler(rng, 1)}"),
        ("### Reception", reception if f["rerelease"] else f"{reception} {award}"),
    ]
    if f["rerelease"]:
        sections += [
            ("## Re-release", f"A restored edition of *{e.name}* appeared decades later. {_filler(rng, 1)}"),
            ("### Reception", f"The restored edition was widely praised. {award}"),
        ]
    return sections + [("## See also", _see_also(e, ctx, rng))]


def _organisation(e, ctx: Context, rng: random.Random) -> list[tuple[str, str]]:
    f = e.facts
    return [
        ("infobox", _infobox([("name", e.name), ("type", f["org_type"]), ("industry", f["industry"].title()),
                              ("country", f["country"])])),
        ("lead", f"The **{e.name}** is a {nm.COUNTRY_ADJ[f['country']]} {f['industry']} {f['org_type']}. {_filler(rng, 1)}"),
        ("## History", f"The early history of the firm is documented in its own annual reports. {_filler(rng, 1)}"),
        ("### Founding", f"{e.name} was founded in {f['founded']} by {ctx.link(f['founder'])}. {_filler(rng, 1)}"),
        ("### Expansion", f"Over the following decades it opened {f['branches']} branches. {_filler(rng, 1)}"),
        ("## Operations", f"The {f['org_type']} is headquartered in {ctx.link(f['headquarters'])} and employs {f['employees']:,} people. {_filler(rng, 1)}"),
        ("## Leadership", f"The chief executive of {e.name} is {f['ceo']}. {_filler(rng, 1)}"),
        ("## See also", _see_also(e, ctx, rng)),
    ]


RENDERERS = {"person": _person, "place": _place, "work": _work, "organisation": _organisation}


def render_page(e, ctx: Context, rng: random.Random) -> Page:
    """The markdown page of one entity."""
    parts = [f"# {e.name}", nm.revision_line(rng), "---"]
    for heading, body in RENDERERS[e.kind](e, ctx, rng):
        if heading in ("infobox", "lead"):
            parts.append(body)
        else:
            parts += [heading, body]
    content = "\n\n".join(parts) + "\n"
    return Page(id=e.page_id, title=e.name, content=content, meta={"kind": e.kind, "synthetic": True})
