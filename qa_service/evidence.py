"""Evidence: the sentences of the retrieved passages, ranked by how well each
answers the question.

The prompt, the checker and the extractive fallback all read these same
sentences, so a quote is always one of them and ``body[start:end] == quote``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

import numpy as np

from index.article import parse_timestamp
from index.sentences import sentence_spans
from qa_service.furniture import is_page_furniture
from qa_service.injection import is_instruction_like
from qa_service.models import Passage, PassageSentence, day_bounds
from qa_service.questions import (QuestionProfile, adds_answer, dates_stated, is_open_statement, names_the_doer,
                                  predicate_coverage, topic_coverage)
from qa_service.support import SourceTerms, content_words, contradicted

# Ranking weights: closeness to the question (cosine, about 0.2-0.8) plus
# the share of the question's predicate the sentence states and of its
# names the story states (what is asked must be in the sentence; who or
# what it is about may be anywhere in the story's retrieved passages).
_PREDICATE_WEIGHT = 0.5
_TOPIC_WEIGHT = 0.25


def sentences_of(text: str, offset: int) -> list[PassageSentence]:
    """A passage's sentences, with body offsets (``offset`` is the passage's start)."""
    return [
        PassageSentence(text=text[s:e], start=offset + s, end=offset + e, readable=is_story_text(text[s:e]))
        for s, e in sentence_spans(text)
    ]


def is_story_text(sentence: str) -> bool:
    """May the model read it and may it support a claim? Not when it addresses the model
    nor when it is the page's furniture (a link to another story, a call to action)."""
    return not is_instruction_like(sentence) and not is_page_furniture(sentence)


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
    story: SourceTerms  # what the retrieved passages of its story state, read by the checker too
    # The sentence before, when this one answers only with it ("join that partnership").
    antecedent: "Evidence | None" = None

    @property
    def text(self) -> str:
        return self.sentence.text

    @property
    def quoted(self) -> list["Evidence"]:
        """The sentences an answer built on this one quotes, in text order."""
        return [self.antecedent, self] if self.antecedent is not None else [self]


def required_predicate(q: QuestionProfile) -> float:
    """How much of the predicate an answering sentence must state: all of a short
    one ("signed", "attended the meeting"), half of a long quiz-style one."""
    n = len(q.predicate)
    return 1.0 if n <= 2 else max(0.5, 2 / n)


def _stories(passages: Sequence[Passage]) -> dict[str, SourceTerms]:
    """What each story's retrieved passages (and its title) state, by article id."""
    texts: dict[str, list[str]] = {}
    for passage in passages:
        texts.setdefault(passage.article_id, [passage.title]).append(passage.text)
    return {article: SourceTerms(parts) for article, parts in texts.items()}


def states_predicate(q: QuestionProfile, sentence: SourceTerms, story: SourceTerms) -> bool:
    """Does the sentence state what the question asks?

    It must state the hinge ("cover" of "What did the MOU cover?") and enough
    of the rest of the predicate. Once it states the hinge verb, the rest may
    be stated by its story, unless the answer is a name: news refers back ("It
    covers investment in AI", after "The memorandum was signed..."), and the
    nouns of the question's topic ("the first data center") are often in the
    sentence before. A noun hinge does not do this: "how much aid has Ukraine
    been given since 2022" is not answered by any sentence about aid.
    """
    if not all(sentence.has(t) for t in q.required):
        return False
    unstated = [t for t in q.predicate if not sentence.has(t)]
    if any(contradicted(t, sentence) for t in unstated):
        return False  # asked of the women's race, it speaks of the men's
    need = required_predicate(q)
    if predicate_coverage(q, sentence) >= need:
        return True
    # Not for a name: "Obama will receive the Medal of Distinction" does not answer who
    # received the Medal of Freedom because the story names that one too. And a story
    # of both races leaves open which one a sentence without the word is about.
    return (q.verb_hinge and q.kind not in ("who", "entity") and predicate_coverage(q, story) >= need
            and not any(contradicted(t, story) for t in unstated))


# "could open the door for Korea to join that partnership": a noun the sentence
# before introduced, by its name ("the AI Infrastructure Partnership").
_BACK_REFERENCE = re.compile(r"\b(?:that|this|these|those)\s+([a-z]+)\b")


def refers_back(sentence: str, previous: str) -> bool:
    """Does the sentence point at something the previous sentence named?"""
    before = SourceTerms([previous])
    return any(before.has(noun) for noun in content_words(" ".join(_BACK_REFERENCE.findall(sentence))))


def _previous_sentences(evidence: Iterable[Evidence]) -> dict[tuple[str, int], Evidence]:
    """Each sentence's neighbour just before it in its story's body, when that one is evidence too
    (only whitespace between them), by (article id, start)."""
    ordered = sorted(evidence, key=lambda e: (e.passage.article_id, e.sentence.start))
    return {(e.passage.article_id, e.sentence.start): p for p, e in zip(ordered, ordered[1:])
            if p.passage.article_id == e.passage.article_id and 0 <= e.sentence.start - p.sentence.end <= 3}


def _with_antecedent(q: QuestionProfile, e: Evidence, previous: Evidence | None) -> Evidence:
    """``e`` answering with the sentence before it, when it refers to what that one named
    and the two together add the answer; else ``e`` unchanged."""
    if previous is None or not refers_back(e.text, previous.text) or not adds_answer(q, f"{previous.text} {e.text}"):
        return e
    return dataclasses.replace(e, answers=True, antecedent=previous)


def _is_question(sentence: str) -> bool:
    """A question in the text ("How many jobs will be cut?") never answers one."""
    return sentence.rstrip(" \"'”’)").endswith("?")


def required_topic(q: QuestionProfile) -> float:
    """How many of the question's names the story must state: those of a short
    question all ("the meeting between Lee and Fink" is not Lee's other meeting),
    two thirds of a long one."""
    return 1.0 if len(q.entities) <= 2 else 2 / 3


def published_since(passage: Passage, day: date | None) -> bool:
    """Was the passage's story published on ``day`` or later (always, without a day)?
    An undated story counts as old: nothing says it is recent."""
    if day is None:
        return True
    published = parse_timestamp(passage.published_at)
    return published is not None and published >= day_bounds(day)[0]


def rank_evidence(q: QuestionProfile, passages: Sequence[Passage], vectors: Sequence[np.ndarray],
                  query_vector: np.ndarray, fresh_since: date | None = None) -> list[Evidence]:
    """Every readable sentence of the passages, best answer first.

    ``vectors[i]`` holds the vectors of ``passages[i].sentences``. The topic
    may be stated anywhere in the passage or its title; the predicate must be
    in the sentence itself (or, past a hinge verb, in its story: ``states_predicate``).
    With ``fresh_since``, only stories published that day or later answer.
    """
    told = _stories(passages)
    # Once per story: every passage of a story shares its names.
    coverage = {article: topic_coverage(q, terms) for article, terms in told.items()}
    built: dict[tuple[str, int], Evidence] = {}
    stating: set[tuple[str, int]] = set()  # state what is asked, but add nothing to the question
    for passage, block in zip(passages, vectors):
        context = coverage[passage.article_id]
        fresh = published_since(passage, fresh_since)  # once per passage: its sentences share its date
        for sentence, vector in zip(passage.sentences, block):
            # Overlapping chunks of one story repeat sentences: each is evidence once.
            key = (passage.article_id, sentence.start)
            if not sentence.readable or key in built:
                continue
            similarity = float(vector @ query_vector)
            terms = SourceTerms([sentence.text])
            predicate = predicate_coverage(q, terms)
            states = (states_predicate(q, terms, told[passage.article_id]) and context >= required_topic(q)
                      and dates_stated(q, terms) and not _is_question(sentence.text) and fresh)
            answers = states and adds_answer(q, sentence.text)
            if states and not answers:
                stating.add(key)
            score = similarity + _PREDICATE_WEIGHT * predicate + _TOPIC_WEIGHT * context
            built[key] = Evidence(passage, sentence, vector, similarity, predicate, answers, round(score, 4),
                                  told[passage.article_id])
    before = _previous_sentences(built.values())
    ranked = [_with_antecedent(q, e, before.get(key)) if key in stating else e for key, e in built.items()]
    # A sentence that gives the answer goes before one saying it is not known
    # (a later story may put a figure on what an earlier one left open), and
    # for "who signed" one naming the signer beside the verb before one that
    # only says the signing happened ("the ministry and BlackRock ... signed").
    return sorted(ranked, key=lambda e: (not e.answers, is_open_statement(e.text),
                                         not (e.answers and names_the_doer(q, e.text)), -e.score))
