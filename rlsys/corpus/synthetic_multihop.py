"""Two-hop questions over the synthetic corpus: the answer sits on a page that only the first page names.

    two_hop_questions(300, seed=0)   # [GoldQuery("In what year was the creator of the novel X born?", (x, creator))]

Each question names one entity (a work, person or organisation) and asks about another entity
that the first one's page links to (a work's creator or setting, a person's birthplace, an
organisation's founder or headquarters); both pages are gold. The second entity is never named in
the question, so a retriever finds it only through the first page (the second hop).
"""

from __future__ import annotations

from rlsys.corpus.evaluation import GoldQuery
from rlsys.corpus.synthetic import synthetic_entities

# (kind of the named entity, fact naming the linked entity, question template); {name}: named entity
TEMPLATES = [
    ("work", "creator", "In what year was the creator of the {work_kind} {name} born?"),
    ("work", "setting", "In what year was the place where the {work_kind} {name} is set founded?"),
    ("person", "birthplace", "Which river flows through the birthplace of {name}?"),
    ("organisation", "founder", "In what year was the founder of {name} born?"),
    ("organisation", "headquarters", "Who is the mayor of the town where {name} has its head office?"),
]


def two_hop_questions(n_entities: int, seed: int = 0, limit: int | None = 500) -> list[GoldQuery]:
    """Up to `limit` two-hop questions (one per entity and template whose link is a corpus entity)."""
    entities = synthetic_entities(n_entities, seed)
    by_name = {e.name: e for e in entities}
    out: list[GoldQuery] = []
    for e in entities:
        for kind, fact, template in TEMPLATES:
            linked = by_name.get(e.facts.get(fact)) if e.kind == kind else None
            if linked is None or linked.page_id == e.page_id:
                continue
            question = template.format(name=e.name, **e.facts)
            if linked.name not in question:  # "… of Iverness" set in Iverness is not a second hop
                out.append(GoldQuery(question, (e.page_id, linked.page_id)))
    return out if limit is None else out[:limit]
