"""Pure ranking functions: reciprocal-rank fusion, recency prior, per-article cap, leaders kept.

Fusion is a few lines of arithmetic over ids; writing it here keeps it
synchronous and testable, where llama-index's QueryFusionRetriever would add
an async event loop and its own node types around the same formula.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = 60) -> dict[K, float]:
    """Sum of ``1 / (k + rank)`` over every ranking an id appears in (rank from 1)."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores


def recency_factor(age_days: float, half_life_days: float, weight: float) -> float:
    """A multiplier ``1 + weight * 0.5 ** (age / half_life)`` for the fused score.

    Multiplicative so that it only reorders passages that matched about
    equally well: a fresh story beats an older one on the same topic, but a
    weak match does not jump ahead of a strong one just for being recent.
    Articles dated after the reference day get no boost.
    """
    if age_days < 0:
        return 1.0
    return 1.0 + weight * math.pow(0.5, age_days / half_life_days)


def cap_per_article(items: Sequence[T], article_of: Callable[[T], str], cap: int) -> list[T]:
    """Keep order, dropping items past the first ``cap`` of each article."""
    seen: dict[str, int] = {}
    kept = []
    for item in items:
        article = article_of(item)
        if seen.get(article, 0) < cap:
            seen[article] = seen.get(article, 0) + 1
            kept.append(item)
    return kept


def keep_leaders(kept: Sequence[K], leaders: Sequence[K], n: int) -> list[K]:
    """The first ``n`` of ``kept``, with every leader in it: a missing leader takes the
    place of the lowest-ranked item that is not a leader.

    Reciprocal-rank fusion rewards agreement, so a chunk that only one retriever
    ranks first can fall out of the top ``n`` behind chunks that two retrievers
    rank modestly ("Who attended the meeting?": only BM25 finds the story's lede,
    whose vector the rest of the long chunk dilutes).
    """
    chosen = list(kept[:n])
    for leader in dict.fromkeys(leaders):  # one chunk may lead two retrievers
        if leader in chosen:
            continue
        replaceable = [i for i, item in enumerate(chosen) if item not in leaders]
        if len(chosen) < n:
            chosen.append(leader)
        elif replaceable:
            chosen[replaceable[-1]] = leader
    order = {item: i for i, item in enumerate(kept)}
    return sorted(chosen, key=lambda item: order.get(item, len(order)))
