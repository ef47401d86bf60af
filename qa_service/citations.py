"""Check each answer sentence against the retrieved passages and attach quotes."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from index.embeddings import Embedder
from index.sentences import sentence_spans, split_sentences
from qa_service.injection import is_instruction_like
from qa_service.models import Passage
from qa_service.support import strip_citation_marks, support_score


@dataclass(frozen=True)
class SourceSentence:
    """A sentence of a passage, located in its article body."""

    passage: Passage
    text: str
    start: int  # offset in the article body
    end: int


@dataclass
class CheckedSentence:
    text: str
    support: float
    sources: list[SourceSentence] = field(default_factory=list)
    model_cited: list[int] = field(default_factory=list)

    def supported(self, threshold: float) -> bool:
        return self.support >= threshold and bool(self.sources)


def source_sentences(passages: list[Passage]) -> list[SourceSentence]:
    return [
        SourceSentence(p, p.text[s:e], p.start + s, p.start + e)
        for p in passages
        for s, e in sentence_spans(p.text)
    ]


class CitationChecker:
    """Scores answer sentences against passage sentences (embeddings + overlap).

    A sentence keeps the passage its author (the model) cited when that passage
    holds a supporting sentence; otherwise the best supporting sentence anywhere
    is cited instead, and a sentence no source supports is left unsupported.
    """

    def __init__(self, embedder: Embedder, threshold: float = 0.5, cache_passages: int = 4096) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_passages
        self._cache_lock = threading.Lock()

    def check(self, answer: str, passages: list[Passage]) -> list[CheckedSentence]:
        claims = _unique(strip_citation_marks(s) for s in split_sentences(answer))
        if not claims or not any(sentence_spans(p.text) for p in passages):
            return [CheckedSentence(text, 0.0, [], cited) for text, cited in claims]
        claim_vectors = self.embedder.embed([text for text, _ in claims])
        checked: list[CheckedSentence | None] = [None] * len(claims)
        # Most claims are supported by the passage the model cited: try those
        # passages first, and embed the other passages' sentences only for
        # claims they leave unsupported (same result, a fraction of the work).
        cited = [p for p in passages if any(p.n in c for _, c in claims)]
        for candidates, final in ((cited, False), (passages, True)):
            todo = [i for i, c in enumerate(checked) if c is None]
            if not todo or not candidates:
                continue
            sources = source_sentences(candidates)
            similarity = claim_vectors[todo] @ self._source_vectors(candidates).T
            for row, i in enumerate(todo):
                result = self._check_one(*claims[i], similarity[row], sources)
                if final or _from_own_citation(result, self.threshold):
                    checked[i] = result
        return checked

    def _source_vectors(self, passages: list[Passage]) -> np.ndarray:
        """Sentence vectors of the passages, in ``source_sentences`` order."""
        blocks = self.sentence_vectors(passages)
        return np.concatenate(blocks) if blocks else np.zeros((0, self.embedder.dim), dtype=np.float32)

    def sentence_vectors(self, passages: list[Passage]) -> list[np.ndarray]:
        """Vectors of each passage's sentences (``sentence_spans`` order).

        Popular passages come back question after question, so their sentence
        vectors are kept (keyed by chunk id and text) instead of re-embedded.
        Embedding them at ingest instead would double the ingest cost for the
        many chunks that are never cited.
        """
        keys = [(p.chunk_id, p.text) for p in passages]
        with self._cache_lock:
            missing = {k: p for k, p in zip(keys, passages) if k not in self._cache}
            if missing:
                texts = [[p.text[s:e] for s, e in sentence_spans(p.text)] for p in missing.values()]
                flat = self.embedder.embed([t for group in texts for t in group])
                offset = 0
                for key, group in zip(missing, texts):
                    self._cache[key] = flat[offset : offset + len(group)]
                    offset += len(group)
            blocks = [self._cache[k] for k in keys]
            for k in keys:
                self._cache.move_to_end(k)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return blocks

    def supports(self, statement: str, quotes: list[str]) -> bool:
        """Do these quotes, together, support the statement? (the eval's checker interface)"""
        if not quotes:
            return False
        vectors = self.embedder.embed([statement, " ".join(quotes)])
        return support_score(float(vectors[0] @ vectors[1]), statement, quotes) >= self.threshold

    def _check_one(self, text: str, cited: list[int], sims: np.ndarray, sources: list[SourceSentence]) -> CheckedSentence:
        # Instructions aimed at the model are never support, however well they match.
        eligible = [j for j, s in enumerate(sources) if not is_instruction_like(s.text)]
        scores = {j: support_score(float(sims[j]), text, [sources[j].text]) for j in eligible}
        order = sorted(eligible, key=lambda j: -scores[j])
        if not order:
            return CheckedSentence(text, 0.0, [], cited)
        in_cited = [j for j in order if sources[j].passage.n in cited]
        if in_cited and scores[in_cited[0]] >= self.threshold:
            return CheckedSentence(text, scores[in_cited[0]], [sources[in_cited[0]]], cited)
        best = order[0]
        if scores[best] >= self.threshold:
            return CheckedSentence(text, scores[best], [sources[best]], cited)
        # A claim may join facts from two sentences ("A and B attended").
        if len(order) > 1:
            pair = [sources[order[0]], sources[order[1]]]
            joint = support_score(float(max(sims[order[0]], sims[order[1]])), text, [s.text for s in pair])
            if joint >= self.threshold:
                return CheckedSentence(text, joint, pair, cited)
        return CheckedSentence(text, scores[best], [], cited)


def _from_own_citation(result: CheckedSentence, threshold: float) -> bool:
    """Supported by one sentence of a passage the claim itself cited: the answer
    ``_check_one`` gives first, whatever the other passages hold."""
    return (result.supported(threshold) and len(result.sources) == 1
            and result.sources[0].passage.n in result.model_cited)


def _unique(claims) -> list[tuple[str, list[int]]]:
    """Drop empty and repeated sentences (small models loop)."""
    seen, kept = set(), []
    for text, cited in claims:
        key = text.lower()
        if text and key not in seen:
            seen.add(key)
            kept.append((text, cited))
    return kept
