"""Combining ranked channels into one page ranking: calibrated score fusion (default) or RRF.

Every channel gives `[(page, best passage, raw score)]` best first. `score` fusion maps each
channel's raw scores onto [0, 1] within the query (min-max over the channel's candidates: its best
page 1, its weakest candidate 0; `title_exact` scores are a title's specificity on [0, 1] already)
and sums them with per-channel weights; a page a channel did not
return gets 0 from it. Unlike reciprocal-rank fusion this keeps *how far* a channel's first page
is ahead: BM25's rank 1 with twice the score of rank 2 is not overturned by a page at middling
ranks in two other channels. `rrf` is the former rule, `sum(w / (rrf_k + rank))`, kept for
comparison (`corpus.fusion: rrf`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FUSIONS = ("score", "rrf")
CHANNELS = ("vector", "fulltext", "title", "title_exact")
CALIBRATED = frozenset({"title_exact"})  # channels whose scores are already on [0, 1] (not rescaled)

Ranked = list[tuple[int, int, float]]  # (page, best passage or -1, raw score), best first


@dataclass
class Fusion:
    """How channels are searched and combined (see `CorpusConfig` for the meaning of each)."""

    method: str = "score"
    candidates: int = 50
    rrf_k: float = 10.0
    vector_weight: float = 0.25
    fulltext_weight: float = 1.0
    title_weight: float = 2.0
    title_vector_weight: float = 0.1
    vector_probe: int = 16
    vector_exact_below: int = 65536
    title_idf_full: float = 0.5
    hop_pages: int = 2
    hop_sources: int = 2
    hop_rank: int = 2
    weights: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        if self.method not in FUSIONS:
            raise ValueError(f"unknown fusion {self.method!r} (one of {', '.join(FUSIONS)})")
        self.weights = {"vector": self.vector_weight, "fulltext": self.fulltext_weight,
                        "title": self.title_vector_weight, "title_exact": self.title_weight}


def normalized(ranked: Ranked) -> list[tuple[int, int, float]]:
    """Scores of one channel mapped to [0, 1] (best 1, weakest candidate 0; all 1 when equal)."""
    if not ranked:
        return []
    top, low = ranked[0][2], min(s for _, _, s in ranked)
    span = top - low
    if span <= 1e-12:
        return [(p, x, 1.0) for p, x, _ in ranked]
    return [(p, x, (s - low) / span) for p, x, s in ranked]


def fuse(channels: dict[str, Ranked], weights: dict[str, float], k: int, method: str = "score",
         rrf_k: float = 10.0) -> list[tuple[int, float, int]]:
    """Top-k `(page, fused score, best passage)`; the passage comes from the first channel naming one."""
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for name, ranked in channels.items():
        weight = weights.get(name, 0.0)
        if weight == 0 or not ranked:
            continue
        if method == "rrf":
            items = [(p, x, weight / (rrf_k + rank)) for rank, (p, x, _) in enumerate(ranked, 1)]
        else:
            scaled = ranked if name in CALIBRATED else normalized(ranked)
            items = [(p, x, weight * s) for p, x, s in scaled]
        for page, passage, value in items:
            scores[page] = scores.get(page, 0.0) + value
            if passage >= 0 and page not in best:
                best[page] = passage
    top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
    return [(page, score, best.get(page, -1)) for page, score in top]
