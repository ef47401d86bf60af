"""Evidence: the sentences of the retrieved passages, ranked by how well each
answers the question.

The prompt, the checker and the extractive fallback all read these same
sentences, so a quote is always one of them and ``body[start:end] == quote``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from index.sentences import sentence_spans
from qa_service.injection import is_instruction_like
from qa_service.models import Passage, PassageSentence
from qa_service.questions import QuestionProfile, adds_answer, is_open_statement, predicate_coverage, topic_coverage
from qa_service.support import SourceTerms

# Ranking weights: closeness to the question (cosine, about 0.2-0.8) plus
# the share of the question's predicate the sentence states and of its
# names the story states (what is asked must be in the sentence; who or
# what it is about may be anywhere in the story's retrieved passages).
_PREDICATE_WEIGHT = 0.5
_TOPIC_WEIGHT = 0.25


def sentences_of(text: str, offset: int) -> list[PassageSentence]:
    """A passage's sentences, with body offsets (``offset`` is the passage's start)."""
    return [
        PassageSentence(text=text[s:e], start=offset + s, end=offset + e, readable=not is_instruction_like(text[s:e]))
        for s, e in sentence_spans(text)
    ]


@dataclass(frozen=True)
class Evidence:
    """One readable sentence of a passage, scored against the question."""

    passage: Passage
    sentence: PassageSentence
    vector: np.ndarray
    similarity: float
    predicate: float  # share of the question's predicate terms the sentence states
    answers: bool  # states what was asked (and something the question did not say)
    score: float

    @property
    def text(self) -> str:
        return self.sentence.text


def required_predicate(q: QuestionProfile) -> float:
    """How much of the predicate an answering sentence must state: all of a short
    one ("signed", "attended the meeting"), half of a long quiz-style one."""
    n = len(q.predicate)
    return 1.0 if n <= 2 else max(0.5, 2 / n)


def _is_question(sentence: str) -> bool:
    """A question in the text ("How many jobs will be cut?") never answers one."""
    return sentence.rstrip(" \"'”’)").endswith("?")


def required_topic(q: QuestionProfile) -> float:
    """How many of the question's names the story must state: those of a short
    question all ("the meeting between Lee and Fink" is not Lee's other meeting),
    two thirds of a long one."""
    return 1.0 if len(q.entities) <= 2 else 2 / 3


def rank_evidence(q: QuestionProfile, passages: Sequence[Passage], vectors: Sequence[np.ndarray],
                  query_vector: np.ndarray) -> list[Evidence]:
    """Every readable sentence of the passages, best answer first.

    ``vectors[i]`` holds the vectors of ``passages[i].sentences``. The topic
    may be stated anywhere in the passage or its title; the predicate must be
    in the sentence itself.
    """
    ranked = []
    need = required_predicate(q)
    stories: dict[str, list[str]] = {}
    for passage in passages:
        stories.setdefault(passage.article_id, [passage.title]).append(passage.text)
    # Once per story: every passage of a story shares its names.
    coverage = {article: topic_coverage(q, SourceTerms(texts)) for article, texts in stories.items()}
    for passage, block in zip(passages, vectors):
        context = coverage[passage.article_id]
        for sentence, vector in zip(passage.sentences, block):
            if not sentence.readable:
                continue
            similarity = float(vector @ query_vector)
            terms = SourceTerms([sentence.text])
            predicate = predicate_coverage(q, terms)
            answers = (predicate >= need and all(terms.has(t) for t in q.required)
                       and context >= required_topic(q) and adds_answer(q, sentence.text)
                       and not _is_question(sentence.text))
            score = similarity + _PREDICATE_WEIGHT * predicate + _TOPIC_WEIGHT * context
            ranked.append(Evidence(passage, sentence, vector, similarity, predicate, answers, round(score, 4)))
    # A sentence that gives the answer goes before one saying it is not known
    # (a later story may put a figure on what an earlier one left open).
    return sorted(ranked, key=lambda e: (not e.answers, is_open_statement(e.text), -e.score))
