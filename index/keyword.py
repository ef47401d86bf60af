"""BM25 keyword search over chunk texts (bm25s), rebuilt from the chunk store."""
from __future__ import annotations

import threading
from typing import Callable, Iterable, Sequence

import numpy as np

from index.store import StoredChunk


class BM25Index:
    """An immutable BM25 index over a snapshot of chunks."""

    def __init__(self, chunks: Sequence[StoredChunk]) -> None:
        import bm25s

        self._bm25s = bm25s
        self.chunks = list(chunks)
        self.by_id = {c.id: c for c in self.chunks}
        self._retriever = bm25s.BM25()
        if self.chunks:
            tokens = bm25s.tokenize([c.text for c in self.chunks], stopwords="en", show_progress=False)
            self._retriever.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (aligned with ``self.chunks``)."""
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        tokens = self._bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)[0]
        if not tokens:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self._retriever.get_scores(tokens)

    def search(
        self, query: str, n: int, keep: Callable[[StoredChunk], bool] | None = None
    ) -> list[tuple[StoredChunk, float]]:
        """Top ``n`` chunks with a positive score that pass ``keep``."""
        scores = self.scores(query)
        # Only the best few can be hits: partition instead of sorting every score
        # (a full sort is most of the cost at 100k chunks). Filters may reject
        # some, so take a margin and fall back to a full sort if they reject many.
        pool = min(len(scores), max(n * 8, 64))
        best = np.argpartition(-scores, pool - 1)[:pool] if pool < len(scores) else np.arange(len(scores))
        order = best[np.argsort(-scores[best], kind="stable")]
        hits = self._take(order, scores, n, keep)
        if len(hits) < n and keep is not None and pool < len(scores) and scores[order[-1]] > 0:
            hits = self._take(np.argsort(-scores, kind="stable"), scores, n, keep)
        return hits

    def _take(self, order: np.ndarray, scores: np.ndarray, n: int,
              keep: Callable[[StoredChunk], bool] | None) -> list[tuple[StoredChunk, float]]:
        hits: list[tuple[StoredChunk, float]] = []
        for i in order:
            if scores[i] <= 0 or len(hits) >= n:
                break
            if keep is None or keep(self.chunks[i]):
                hits.append((self.chunks[i], float(scores[i])))
        return hits


class KeywordIndex:
    """Keeps a BM25Index in step with the chunk store.

    The store's generation marker changes on every write from any process, so
    comparing it before a search is enough to stay consistent across ingest,
    update, delete, restart and several API workers.
    """

    def __init__(self, generation: Callable[[], str | None], load: Callable[[], Iterable[StoredChunk]]) -> None:
        self._generation = generation
        self._load = load
        self._lock = threading.Lock()
        self._built_for: object = object()
        self._index: BM25Index | None = None

    def current(self) -> BM25Index:
        generation = self._generation()
        with self._lock:
            if self._index is None or generation != self._built_for:
                self._index = BM25Index(list(self._load()))
                self._built_for = generation
            return self._index
