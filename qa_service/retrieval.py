"""Hybrid retrieval: dense (Chroma) + BM25, fused by reciprocal rank, news-aware."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any

import numpy as np

from index.embeddings import Embedder
from index.keyword import KeywordIndex
from index.store import ChromaStore, StoredChunk, chunk_of_sentence
from qa_service.evidence import sentences_of
from qa_service.models import Filters, Passage
from qa_service.ranking import cap_per_article, reciprocal_rank_fusion, recency_factor

_DAY = 86400
# Each retriever proposes this many candidates per final passage, so the
# fusion and the per-article cap have room to work.
_CANDIDATES_PER_PASSAGE = 4


@dataclass
class Retrieved:
    passages: list[Passage]
    chunks: list[StoredChunk]
    best_similarity: float
    query_vector: np.ndarray

    @property
    def relevant(self) -> bool:
        return bool(self.passages)


def _day_bounds(day: date) -> tuple[int, int]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return int(start.timestamp()), int(start.timestamp()) + _DAY - 1


@dataclass(frozen=True)
class _Window:
    """Inclusive publication window in epoch seconds (None = open)."""

    after: int | None = None
    before: int | None = None

    @classmethod
    def of(cls, filters: Filters, as_of: date | None) -> "_Window":
        after = _day_bounds(filters.published_after)[0] if filters.published_after else None
        befores = [_day_bounds(d)[1] for d in (filters.published_before, as_of) if d]
        return cls(after, min(befores) if befores else None)


class Retriever:
    """Finds the passages that matter for a question."""

    def __init__(
        self, embedder: Embedder, store: ChromaStore, keywords: KeywordIndex, *,
        rrf_k: int = 60, max_per_article: int = 3, min_relevance: float = 0.25,
        recency_half_life_days: float = 7.0, recency_weight: float = 0.3, sentence_retrieval: bool = True,
    ) -> None:
        self.sentence_retrieval = sentence_retrieval
        self.embedder = embedder
        self.store = store
        self.keywords = keywords
        self.rrf_k = rrf_k
        self.max_per_article = max_per_article
        self.min_relevance = min_relevance
        self.half_life = recency_half_life_days
        self.recency_weight = recency_weight

    def retrieve(
        self, query: str, top_k: int, filters: Filters | None = None, as_of: date | None = None
    ) -> Retrieved:
        """Top ``top_k`` passages; empty when nothing is similar enough to be relevant.

        With ``as_of``, articles published after that day (or undated) are left
        out and a recency prior favours those published close to it.
        """
        filters = filters or Filters()
        window = _Window.of(filters, as_of)
        wanted = top_k * _CANDIDATES_PER_PASSAGE
        snapshot = self.keywords.current()
        vector = self.embedder.embed_query(query)
        where = _where(filters, window)
        dense = self.store.nearest(vector, wanted, where)
        # Small-to-big: a question usually matches one sentence, which a chunk
        # vector dilutes; the best sentences bring their chunks.
        sentences = self.store.nearest_sentences(vector, 2 * wanted, where) if self.sentence_retrieval else []
        by_sentence = _unique_order(chunk_of_sentence(i) for i, _ in sentences)
        sparse = snapshot.search(query, wanted, keep=lambda c: _matches(c, filters, window))
        chunks = self._resolve([i for i, _ in dense] + by_sentence, snapshot.by_id) | {c.id: c for c, _ in sparse}
        best = max((sim for _, sim in dense + sentences), default=0.0)
        if best < self.min_relevance:
            return Retrieved([], [chunks[i] for i, _ in dense[:top_k] if i in chunks], best, vector)

        scores = reciprocal_rank_fusion(
            [[i for i, _ in dense if i in chunks], [i for i in by_sentence if i in chunks], [c.id for c, _ in sparse]],
            self.rrf_k)
        if as_of is not None:
            now = _day_bounds(as_of)[1]
            for chunk_id, chunk in chunks.items():
                if chunk.published_ts is not None:
                    age = (now - chunk.published_ts) / _DAY
                    scores[chunk_id] *= recency_factor(age, self.half_life, self.recency_weight)
        ranked = sorted(chunks, key=lambda i: -scores[i])
        kept = cap_per_article(ranked, lambda i: chunks[i].article_id, self.max_per_article)[:top_k]
        picked = [chunks[i] for i in kept]
        return Retrieved([to_passage(n, c, scores[c.id]) for n, c in enumerate(picked, 1)], picked, best, vector)

    def _resolve(self, ids: list[str], known: dict[str, StoredChunk]) -> dict[str, StoredChunk]:
        """Chunks by id from the keyword snapshot; ones written since it was taken come from the store."""
        ids = _unique_order(ids)
        found = {i: known[i] for i in ids if i in known}
        missing = [i for i in ids if i not in found]
        return found | {c.id: c for c in self.store.get_chunks(missing)}


def _unique_order(ids) -> list[str]:
    return list(dict.fromkeys(ids))


def to_passage(n: int, chunk: StoredChunk, score: float) -> Passage:
    return Passage(
        n=n, chunk_id=chunk.id, article_id=chunk.article_id, title=chunk.title, url=chunk.url,
        published_at=chunk.published_at, text=chunk.text, start=chunk.start, end=chunk.end,
        score=round(score, 6), sentences=sentences_of(chunk.text, chunk.start),
    )


def _where(filters: Filters, window: _Window) -> dict[str, Any] | None:
    clauses: list[dict[str, Any]] = []
    if filters.sources:
        clauses.append({"source": {"$in": filters.sources}})
    if filters.article_ids:
        clauses.append({"article_id": {"$in": filters.article_ids}})
    if window.after is not None:
        clauses.append({"published_ts": {"$gte": window.after}})
    if window.before is not None:
        clauses.append({"published_ts": {"$lte": window.before}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _matches(chunk: StoredChunk, filters: Filters, window: _Window) -> bool:
    """The same filter as ``_where``, for the keyword side."""
    if filters.sources and chunk.source not in filters.sources:
        return False
    if filters.article_ids and chunk.article_id not in filters.article_ids:
        return False
    if window.after is None and window.before is None:
        return True
    ts = chunk.published_ts
    if ts is None:
        return False
    return (window.after is None or ts >= window.after) and (window.before is None or ts <= window.before)
