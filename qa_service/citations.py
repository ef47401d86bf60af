"""Check each answer sentence against the evidence sentences, with the question.

A claim is supported by one evidence sentence (or two, for a claim that joins
facts from two sentences, such as a list of names) when:
- every name, number and content word of the claim is stated by those
  sentences or by the question (so "Lee Jae Myung, the president of Korea's
  central bank" fails on a sentence that never says "central bank");
- those sentences state the question's predicate (a bare name list cannot
  borrow support from a sentence that says nothing of signing);
- the claim adds what was asked and the question did not say (no tautologies);
- a "who" claim does not drop one of two people its sentence joins with "and";
- the claim keeps each person with the role its sentence gives them.
"""
from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from index.embeddings import Embedder
from index.sentences import split_sentences
from index.store import sentence_id
from qa_service.evidence import Evidence, states_predicate
from qa_service.models import Passage
from qa_service.questions import QuestionProfile, adds_answer, drops_partner, garbles_apposition
from qa_service.settings import CheckingSettings
from qa_service.support import (SourceTerms, content_words, contradicted, key_terms, missing, stem, strip_citation_marks,
                                support_score, words)

# Pairs are tried among the evidence sentences closest to the claim only.
_PAIR_CANDIDATES = 6


@dataclass
class CheckedSentence:
    text: str
    support: float
    sources: list[Evidence] = field(default_factory=list)
    model_cited: list[int] = field(default_factory=list)
    supported: bool = False


def states(claim: str, sources: SourceTerms, question: SourceTerms | None = None,
           context: SourceTerms | None = None, acronyms: frozenset[str] = frozenset()) -> bool:
    """Every name and number of the claim is in the sources, and every other
    content word in the sources or the question.

    Names must come from the sources themselves: a name the question gave,
    joined to what a sentence says of someone else, is an invented claim.
    Only an acronym of the question may be expanded by the passage around the
    sources ("the MOU" for a sentence that says "the memorandum").
    """
    names = key_terms(claim)
    unnamed = missing(names, sources)
    if any(not (t in acronyms and context is not None and context.has(t)) for t in unnamed):
        return False
    unstated = missing(content_words(claim) - names, sources)
    if any(contradicted(t, sources) for t in unstated):
        return False
    return not (missing(unstated, question) if question is not None else unstated)


class CitationChecker:
    """Verifies answer sentences against evidence and keeps passage sentence vectors."""

    def __init__(self, embedder: Embedder, settings: CheckingSettings = CheckingSettings(), *,
                 cache_passages: int = 4096,
                 stored: Callable[[list[str]], dict[str, np.ndarray]] | None = None) -> None:
        self.embedder = embedder
        self.stored = stored
        self.threshold = settings.support_threshold
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_passages
        self._cache_lock = threading.Lock()

    def check(self, answer: str, q: QuestionProfile, evidence: Sequence[Evidence]) -> list[CheckedSentence]:
        claims = _unique(strip_citation_marks(s) for s in split_sentences(answer))
        if not claims or not evidence:
            return [CheckedSentence(text, 0.0, [], cited) for text, cited in claims]
        vectors = self.embedder.embed([text for text, _ in claims])
        matrix = np.stack([e.vector for e in evidence])
        return [self._check_one(text, cited, matrix @ vector, q, evidence)
                for (text, cited), vector in zip(claims, vectors)]

    def _check_one(self, text: str, cited: list[int], sims: np.ndarray, q: QuestionProfile,
                   evidence: Sequence[Evidence]) -> CheckedSentence:
        if not adds_answer(q, text):
            return CheckedSentence(text, 0.0, [], cited)
        question = SourceTerms([q.text])
        acronyms = frozenset(t for t in q.topic if t.isupper())
        order = [int(j) for j in np.argsort(-sims)]

        def passes(group: list[int]) -> bool:
            sources = SourceTerms(evidence[j].text for j in group)
            context = SourceTerms(evidence[j].passage.text for j in group)
            return (states_predicate(q, sources, evidence[group[0]].story)
                    and states(text, sources, question, context, acronyms)
                    and not (q.kind in ("who", "entity") and any(drops_partner(text, evidence[j].text) for j in group))
                    and not any(garbles_apposition(text, evidence[j].text) for j in group))

        def score(group: list[int]) -> float:
            return support_score(float(max(sims[j] for j in group)), text, [evidence[j].text for j in group])

        singles = [[j] for j in order if passes([j])]
        # The model's own citation first, when it holds.
        singles.sort(key=lambda g: (evidence[g[0]].passage.n not in cited, -score(g)))
        # Two sentences of one story may be joined for a list of names spread
        # over them ("who attended"); a claim that also says something of those
        # names must find it in one sentence, or "Lee, the chairman of GIP" would
        # join one sentence's name to another's role. Facts of two stories are
        # never joined, nor two sentences for a one-name answer: "who won the
        # women's race" would take the name from the men's race.
        pairs = [list(p) for p in itertools.combinations(order[:_PAIR_CANDIDATES], 2)
                 if q.wants_list and evidence[p[0]].passage.article_id == evidence[p[1]].passage.article_id]
        groups = singles or [p for p in pairs if _names_only(text, question) and passes(p)]
        if not groups:
            return CheckedSentence(text, score([order[0]]), [], cited)
        best = groups[0] if singles else max(groups, key=score)
        return CheckedSentence(text, score(best), [evidence[j] for j in sorted(best, key=lambda j: evidence[j].sentence.start)],
                               cited, supported=True)

    def supports(self, statement: str, quotes: list[str]) -> bool:
        """Do these quotes, together, state the statement? (the eval's self-consistency checker)"""
        if not quotes:
            return False
        vectors = self.embedder.embed([statement, " ".join(quotes)])
        return (states(statement, SourceTerms(quotes))
                and support_score(float(vectors[0] @ vectors[1]), statement, quotes) >= self.threshold)

    def sentence_vectors(self, passages: Sequence[Passage]) -> list[np.ndarray]:
        """Vectors of each passage's sentences (``passage.sentences`` order).

        They come from the index (computed at ingest); a passage whose
        sentences are not stored there (an index built before sentence
        vectors were) is embedded here. Popular passages come back question
        after question, so the vectors are also kept in memory.
        """
        keys = [(p.chunk_id, p.text) for p in passages]
        with self._cache_lock:
            todo = {k: p for k, p in zip(keys, passages) if k not in self._cache}
            self._cache.update(self._from_index(list(todo.items())))
            unstored = {k: p for k, p in todo.items() if k not in self._cache}
            if unstored:
                texts = [[s.text for s in p.sentences] for p in unstored.values()]
                flat = self.embedder.embed([t for group in texts for t in group])
                offset = 0
                for key, group in zip(unstored, texts):
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


def _names_only(claim: str, question: SourceTerms) -> bool:
    """The claim adds nothing to the question but names and numbers (its first word included)."""
    capitalised = {stem(w).lower() for w in words(claim) if w[0].isupper()}
    return not missing(content_words(claim) - key_terms(claim) - capitalised, question)


def _unique(claims) -> list[tuple[str, list[int]]]:
    """Drop empty and repeated sentences (small models loop)."""
    seen, kept = set(), []
    for text, cited in claims:
        key = text.lower()
        if text and key not in seen:
            seen.add(key)
            kept.append((text, cited))
    return kept
