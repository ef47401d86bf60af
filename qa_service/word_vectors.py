"""MiniLM vectors of single words, for telling a paraphrase ("price" for "cost") from another word."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from index.embeddings import Embedder


class WordVectors:
    """The sentence model's vector of each word embedded alone, kept in memory (least recently
    used dropped first): the same few thousand lemmas of news come back question after question.

    spaCy's small pipeline has no static word vectors (its tensors depend on the context), so the
    embedder already loaded for passages stands in; words close in its space are the paraphrases
    and near-synonyms a reader accepts (cost/price 0.74, start/begin 0.84, buy/purchase 0.87;
    cost/stop 0.19)."""

    def __init__(self, embedder: Embedder, cache_words: int = 50_000) -> None:
        self.embedder = embedder
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_words
        self._lock = threading.Lock()

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine of each word of ``a`` (rows) with each of ``b`` (columns)."""
        if not a or not b:
            return np.zeros((len(a), len(b)), dtype=np.float32)
        vectors = self._vectors([*a, *b])
        return np.stack([vectors[w] for w in a]) @ np.stack([vectors[w] for w in b]).T

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        found = self._vectors(texts)
        return np.stack([found[t] for t in texts])

    def _vectors(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            todo = list(dict.fromkeys(w for w in words if w not in self._cache))
            if todo:
                self._cache.update(zip(todo, self.embedder.embed(todo), strict=True))
            found = {w: self._cache[w] for w in words}
            for w in found:
                self._cache.move_to_end(w)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found
