"""The vectors of a passage's sentences: read from the index, kept in memory."""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from index.embeddings import Embedder
from index.store import sentence_id
from qa_service.models import Passage


class SentenceVectors:
    """Vectors of each passage's sentences (``passage.sentences`` order).

    They come from the index (computed at ingest); a passage whose sentences
    are not stored there is embedded here. Popular passages come back question
    after question, so the vectors are also kept in memory (least recently
    used dropped first).
    """

    def __init__(self, embedder: Embedder, stored: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
                 cache_passages: int = 4096) -> None:
        self.embedder = embedder
        self.stored = stored
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_passages
        self._lock = threading.Lock()

    def of(self, passages: Sequence[Passage]) -> list[np.ndarray]:
        keys = [(p.chunk_id, p.text) for p in passages]
        with self._lock:
            todo = {k: p for k, p in zip(keys, passages, strict=True) if k not in self._cache}
            self._cache.update(self._from_index(list(todo.items())))
            unstored = {k: p for k, p in todo.items() if k not in self._cache}
            if unstored:
                texts = [[s.text for s in p.sentences] for p in unstored.values()]
                flat = self.embedder.embed([t for group in texts for t in group])
                offset = 0
                for key, group in zip(unstored, texts, strict=True):
                    self._cache[key] = flat[offset : offset + len(group)]
                    offset += len(group)
            blocks = [self._cache[k] for k in keys]
            for k in keys:
                self._cache.move_to_end(k)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return blocks

    def _from_index(self, todo: list[tuple[tuple[str, str], Passage]]) -> dict[tuple[str, str], np.ndarray]:
        if self.stored is None or not todo:
            return {}
        ids = {key: [sentence_id(p.chunk_id, i) for i in range(len(p.sentences))] for key, p in todo}
        found = self.stored([i for group in ids.values() for i in group])
        return {key: np.stack([found[i] for i in group]) if group else np.zeros((0, self.embedder.dim), np.float32)
                for key, group in ids.items() if all(i in found for i in group)}
