"""Hybrid retrieval: dense (Chroma) + keyword (BM25), fused by reciprocal rank, news-aware."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np

from index.embeddings import Embedder
from index.keyword import KeywordIndex
from index.store import ChromaStore, StoredChunk, chunk_of_sentence
from qa_service.models import DAY_SECONDS, ArticleRef, Filters, Passage, day_bounds
from qa_service.ranking import cap_per_article, keep_leaders, recency_factor, reciprocal_rank_fusion
from qa_service.readable import sentences_of
from qa_service.settings import RetrievalSettings

# Each retriever proposes this many candidates per final passage, so the
# fusion and the per-article cap have room to work.
CANDIDATES_PER_PASSAGE = 4


@dataclass
class Retrieved:
    passages: list[Passage]
    chunks: list[StoredChunk]
    best_similarity: float
    query_vector: np.ndarray

    @property
    def relevant(self) -> bool:
        return bool(self.passages)


class Retriever:
    """Finds the passages that matter for a question."""

    def __init__(self, embedder: Embedder, store: ChromaStore, keywords: KeywordIndex[StoredChunk],
                 settings: RetrievalSettings = RetrievalSettings()) -> None:
        self.embedder = embedder
        self.store = store
        self.keywords = keywords
        self.sentence_retrieval = settings.sentence_retrieval
        self.rrf_k = settings.rrf_k
        self.max_per_article = settings.max_per_article
        self.min_relevance = settings.min_relevance
        self.half_life = settings.recency_half_life_days
        self.recency_weight = settings.recency_weight
        self.keep_leaders = settings.keep_leaders
        # The keyword search runs here while the caller's thread embeds the query and searches the
        # vectors: SQLite and torch both release the GIL, so on two cores a question waits for the
        # longer of the two (FTS5 39-41 ms, the query embedding 29 ms at 100,000 chunks), not their sum.
        # One thread: the keyword index serves one search at a time anyway (one connection).
        self._keyword_thread = ThreadPoolExecutor(1, "keyword-search")

    def close(self) -> None:
        """Stop the keyword search thread (a search under way finishes first)."""
        self._keyword_thread.shutdown()

    def retrieve(
        self, query: str, top_k: int, filters: Filters | None = None, as_of: date | None = None
    ) -> Retrieved:
        """Top ``top_k`` passages; empty when nothing is similar enough to be relevant.

        With ``as_of``, articles published after that day (or undated) are left
        out and a recency prior favours those published close to it.
        """
        filters = filters or Filters()
        wanted = top_k * CANDIDATES_PER_PASSAGE
        among = filters.keyword_filter(as_of)
        keyword_search = self._keyword_thread.submit(self.keywords.search, query, wanted, among)
        vector = self.embedder.embed_query(query)
        dense = self.store.nearest(vector, wanted, among)
        # Small-to-big: a question usually matches one sentence, which a chunk
        # vector dilutes; the best sentences bring their chunks.
        sentences = self.store.nearest_sentences(vector, 2 * wanted, among) if self.sentence_retrieval else []
        by_sentence = _unique_order(chunk_of_sentence(i) for i, _ in sentences)
        sparse = keyword_search.result()
        chunks = self._resolve([i for i, _ in dense] + by_sentence) | {c.id: c for c, _ in sparse}
        best = max((sim for _, sim in dense + sentences), default=0.0)
        if best < self.min_relevance:
            return Retrieved([], [chunks[i] for i, _ in dense[:top_k] if i in chunks], best, vector)

        rankings = [[i for i, _ in dense if i in chunks], [i for i in by_sentence if i in chunks],
                    [c.id for c, _ in sparse]]
        scores = reciprocal_rank_fusion(rankings, self.rrf_k)
        if as_of is not None:
            now = day_bounds(as_of)[1]
            for chunk_id, chunk in chunks.items():
                if chunk.published_ts is not None:
                    age = (now - chunk.published_ts) / DAY_SECONDS
                    scores[chunk_id] *= recency_factor(age, self.half_life, self.recency_weight)
        ranked = sorted(chunks, key=lambda i: -scores[i])
        kept = cap_per_article(ranked, lambda i: chunks[i].article_id, self.max_per_article)
        if self.keep_leaders:
            kept = keep_leaders(kept, [r[0] for r in rankings if r], top_k)
        kept = kept[:top_k]
        picked = [chunks[i] for i in kept]
        return Retrieved([to_passage(n, c, scores[c.id]) for n, c in enumerate(picked, 1)], picked, best, vector)

    def _resolve(self, ids: list[str]) -> dict[str, StoredChunk]:
        """Chunks by id from the keyword index (a local read); any it lacks (an article being
        written, or a rebuild not yet made) come from the store."""
        ids = _unique_order(ids)
        known = self.keywords.chunks(ids)
        found = {i: known[i] for i in ids if i in known}
        missing = [i for i in ids if i not in found]
        return found | {c.id: c for c in self.store.get_chunks(missing)}


def _unique_order(ids) -> list[str]:
    return list(dict.fromkeys(ids))


def to_passage(n: int, chunk: StoredChunk, score: float) -> Passage:
    return Passage(
        n=n, chunk_id=chunk.id, **ArticleRef.of(chunk), text=chunk.text, start=chunk.start, end=chunk.end,
        score=round(score, 6), sentences=sentences_of(chunk.text, chunk.start, chunk.sentence_spans),
    )
