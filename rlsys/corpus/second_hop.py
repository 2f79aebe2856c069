"""A second hop for multi-hop questions: pages that the best results link to, ranked in.

"Which river flows through the birthplace of Clio Torström?" names one page; the page that
answers it (the birthplace) is named only in Clio Torström's text. After fusion, the links of the
first `hop_sources` results (`[text](target)` whose target is a page of the corpus) are
candidates; each is scored by

    hop(L) = fused(L) / fused(top) + context(L)

where `fused(L)` is the linked page's own fused score for the query (0 when no channel found it)
and `context(L)` is the BM25 score, for the query, of the source passage that carries the link
(its anchor text), over the query's best BM25 passage score: a link in the passage that matches
"birthplace" beats one in the infobox. The `hop_pages` best candidates not already in the first
`hop_rank` results are placed at rank `hop_rank` (the results after it move down).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict

import numpy as np

LINK_RE = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _key(text: str) -> str:
    return " ".join(html.unescape(text).replace("_", " ").lower().split())


class LinkGraph:
    """For every page: the corpus pages it links to, and which of its passages carry each link."""

    def __init__(self, page_ids: list[str], page_titles: list[str], page_contents: list[str],
                 passage_page: np.ndarray, passage_texts: list[str]):
        lookup: dict[str, int] = {}
        for i, (pid, title) in enumerate(zip(page_ids, page_titles)):
            lookup.setdefault(_key(pid), i)
            lookup.setdefault(_key(title), i)
        passages_of: dict[int, list[int]] = defaultdict(list)
        for row, page in enumerate(passage_page):
            passages_of[int(page)].append(row)
        # page -> [(linked page, passages of the page whose text holds the anchor)]
        self.links: list[list[tuple[int, list[int]]]] = []
        for i, content in enumerate(page_contents):
            found: dict[int, set[int]] = {}
            for anchor, target in LINK_RE.findall(content):
                j = lookup.get(_key(target))
                if j is None or j == i:
                    continue
                rows = found.setdefault(j, set())
                rows.update(r for r in passages_of.get(i, ()) if anchor in passage_texts[r])
            self.links.append([(j, sorted(rows)) for j, rows in found.items()])

    def n_links(self) -> int:
        return sum(len(x) for x in self.links)


def rank_in(fused: list[tuple[int, float, int]], graph: LinkGraph, bm25_scores: np.ndarray, *,
            sources: int, pages: int, rank: int, k: int) -> list[tuple[int, float, int]]:
    """`fused` (page, score, passage) with up to `pages` linked pages placed at `rank` (1-based)."""
    if not fused or pages <= 0:
        return fused[:k]
    own = {p: s for p, s, _ in fused}
    top_score = max(fused[0][1], 1e-9)
    top_bm25 = float(bm25_scores.max()) if len(bm25_scores) else 0.0
    keep_above = {p for p, _, _ in fused[: rank - 1]}
    candidates: dict[int, float] = {}
    for src, _, _ in fused[:sources]:
        for linked, rows in graph.links[src]:
            if linked in keep_above:
                continue
            context = max((float(bm25_scores[r]) for r in rows), default=0.0) / top_bm25 if top_bm25 > 0 else 0.0
            score = own.get(linked, 0.0) / top_score + context
            candidates[linked] = max(candidates.get(linked, 0.0), score)
    if not candidates:
        return fused[:k]
    chosen = sorted(candidates.items(), key=lambda kv: (-kv[1], kv[0]))[:pages]
    chosen_ids = {p for p, _ in chosen}
    head = [h for h in fused if h[0] not in chosen_ids][: rank - 1]
    floor = head[-1][1] if head else top_score
    passage = {p: x for p, _, x in fused}
    hops = [(p, floor, passage.get(p, -1)) for p, _ in chosen]  # shown with the score of the result above
    tail = [h for h in fused if h[0] not in chosen_ids and h not in head]
    return (head + hops + tail)[:k]
