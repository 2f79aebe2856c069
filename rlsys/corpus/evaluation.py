"""Recall of gold pages: questions matched to the pages of a corpus, scored per search mode.

    golds = resolve_gold(questions, service.pages)            # [(question text, [gold page ids])]
    recall_per_mode(service, golds, ks=(1, 5))                 # {"hybrid": {1: 0.9, 5: 0.97}, ...}
    multihop_recall(service, two_hop)                          # {"any_at_5": ..., "all_at_5": ...}

A question's gold page is named by id (`page_id`) or by title (a `filename` `<title>.md` turns
into an id by the dataset's rule); a gold that is not an id of the corpus is looked up by its
title, HTML entities decoded and case folded, so question and page files from different exports
still meet. Questions whose gold page is not in the corpus are left out (and counted).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from rlsys.corpus.page import page_id_for_title

if TYPE_CHECKING:
    from rlsys.corpus.page import Page
    from rlsys.corpus.service import CorpusService
    from rlsys.corpus.types import Question

MODES = ("hybrid", "vector", "fulltext", "title")


@dataclass(frozen=True)
class GoldQuery:
    question: str
    gold: tuple[str, ...]   # page ids of the corpus, all needed to answer (one for factoid questions)


def _title_key(text: str) -> str:
    return " ".join(html.unescape(text).replace("_", " ").lower().split())


def resolve_gold(questions: Iterable["Question"], pages: list["Page"]) -> tuple[list[GoldQuery], int]:
    """(questions whose gold page is in `pages`, how many were left out)."""
    ids = {p.id for p in pages}
    by_title: dict[str, str] = {}
    for p in pages:
        by_title.setdefault(_title_key(p.title), p.id)
        by_title.setdefault(_title_key(p.id), p.id)
    out: list[GoldQuery] = []
    dropped = 0
    for q in questions:
        gold = q.page_id
        if gold and gold not in ids:
            gold = by_title.get(_title_key(gold)) or by_title.get(_title_key(page_id_for_title(gold)))
        if gold and gold in ids:
            out.append(GoldQuery(q.question, (gold,)))
        else:
            dropped += 1
    return out, dropped


def ranked_ids(service: "CorpusService", queries: list[str], mode: str, k: int = 10,
               batch: int = 256) -> list[list[str]]:
    """Page ids of the top `k` results of every query, in batches."""
    out: list[list[str]] = []
    for start in range(0, len(queries), batch):
        rows = service.search_pages_batch(queries[start : start + batch], k=k, mode=mode)
        out.extend([r["page_id"] for r in row] for row in rows)
    return out


def recall_at(ranked: list[list[str]], golds: list[GoldQuery], k: int, need_all: bool = False) -> float:
    """Share of queries with any (or all, `need_all`) gold pages among the first `k` results."""
    if not golds:
        return float("nan")
    hit = 0
    for ids, g in zip(ranked, golds):
        found = [x in ids[:k] for x in g.gold]
        hit += all(found) if need_all else any(found)
    return round(hit / len(golds), 4)


def recall_per_mode(service: "CorpusService", golds: list[GoldQuery], ks: tuple[int, ...] = (1, 5, 10),
                    modes: tuple[str, ...] = MODES) -> dict[str, dict[int, float]]:
    """`{mode: {k: recall@k}}` over `golds` (any gold page counts)."""
    queries = [g.question for g in golds]
    out = {}
    for mode in modes:
        ranked = ranked_ids(service, queries, mode, k=max(ks))
        out[mode] = {k: recall_at(ranked, golds, k) for k in ks}
    return out


def multihop_recall(service: "CorpusService", golds: list[GoldQuery], k: int = 5,
                    mode: str = "hybrid") -> dict[str, float]:
    """Any and all gold pages of multi-page questions among the top `k`."""
    ranked = ranked_ids(service, [g.question for g in golds], mode, k=k)
    return {f"any_at_{k}": recall_at(ranked, golds, k), f"all_at_{k}": recall_at(ranked, golds, k, need_all=True),
            "questions": len(golds)}
