"""Question -> retrieve -> read -> cited Answer (or abstain)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from qa_service.asked import analyse_question
from qa_service.generation import Generator, Usage
from qa_service.models import Answer, AnswerSentence, ArticleRef, Citation, Filters, Passage
from qa_service.prompting import PromptBuilder, format_passages
from qa_service.reader import Candidate, Judge, Reading, ReadSentence, read, read_sentences
from qa_service.retrieval import Retriever, to_passage
from qa_service.sentence_vectors import SentenceVectors
from qa_service.settings import CheckingSettings, GenerationSettings

ABSTAIN_MESSAGE = "The indexed articles do not answer this question."


@dataclass(frozen=True)
class Question:
    text: str
    top_k: int
    filters: Filters | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class PassagesEvent:
    passages: list[Passage]


@dataclass(frozen=True)
class TokenEvent:
    """A piece of the answer's text (the API streams it as ``token`` events)."""

    text: str


@dataclass(frozen=True)
class AnswerEvent:
    """The last event of a stream, and the one result of ``Answerer.result``."""

    answer: Answer
    usage: Usage


Event = PassagesEvent | TokenEvent | AnswerEvent


# How much the question's lift of a candidate's likelihood (with the question against without)
# adds to the likelihood itself, in the judge: the first value tried, not tuned; the judge's
# weight was then chosen on half of the development data (docs/evaluation-history.md).
QUESTION_LIFT = 0.5


class Answerer:
    """The one code path for CLI, HTTP and evals.

    Extractive: the reader (``qa_service.reader``) picks the answer out of the
    evidence sentences, a span of the type the question asks, and each item is
    cited with its whole sentence; the model only judges which of the best
    candidates is the answer (its likelihood of each, ``judge_candidates``).
    Nothing the reader trusts: abstain, with the nearest passages.
    """

    def __init__(self, retriever: Retriever, prompts: PromptBuilder, generator: Generator,
                 vectors: SentenceVectors, generation: GenerationSettings = GenerationSettings(),
                 checking: CheckingSettings = CheckingSettings()) -> None:
        self.retriever = retriever
        self.prompts = prompts
        self.generator = generator
        self.vectors = vectors
        self.answer_style = generation.answer_style
        self.judge_candidates = generation.judge_candidates
        self.min_sentence_score = checking.min_sentence_score
        self.min_answer_score = checking.min_answer_score
        self._primed = False

    def warm_up(self) -> None:
        """Have the model evaluate the prompt's fixed prefix once, before the first question
        (the first judged question does it otherwise)."""
        if self.judge_candidates and not self._primed:
            self.generator.prime(self.prompts.prefix)
            self._primed = True

    def ask(self, question: Question) -> Answer:
        return self.result(question).answer

    def result(self, question: Question, on_passages: Callable[[list[Passage]], None] | None = None) -> AnswerEvent:
        """The whole answer at once, for callers that show nothing while it is being made.
        ``on_passages`` hears the retrieved passages as soon as they are known, so a caller
        keeps them when answering then fails."""
        for event in self.stream(question):
            if isinstance(event, PassagesEvent) and on_passages is not None:
                on_passages(event.passages)
            elif isinstance(event, AnswerEvent):
                return event
        raise AssertionError("stream ended without an answer")

    def stream(self, question: Question) -> Iterator[Event]:
        """Passages, then the answer's text, then the answer."""
        self.warm_up()  # before the clock: the first answer's timings are its own, as later ones
        clock = _Clock()
        found = self.retriever.retrieve(question.text, question.top_k, question.filters, question.as_of)
        clock.lap("retrieve")
        if not found.relevant:
            nearest = [to_passage(n, c, 0.0) for n, c in enumerate(found.chunks, 1)]
            yield PassagesEvent(nearest)
            yield AnswerEvent(self._abstain(question, nearest, clock), Usage())
            return
        yield PassagesEvent(found.passages)
        yield from self.answer_from(question, found.passages, found.query_vector, clock)

    def answer_from(self, question: Question, passages: list[Passage], query_vector: np.ndarray,
                    clock: _Clock | None = None) -> Iterator[Event]:
        """Answer from given passages (retrieval done): read, judge, compose."""
        self.warm_up()
        clock = clock or _Clock()
        usage = Usage()
        asked = analyse_question(question.text)
        sentences = read_sentences(asked, passages, self.vectors.of(passages), query_vector)
        clock.lap("verify")  # the analysis of the question and the evidence
        judge = self.judge(question.text, usage) if self.judge_candidates else None
        reading = read(asked, sentences, self.min_sentence_score, self.min_answer_score, judge, self.judge_candidates)
        clock.lap("generate")  # the candidates scored and judged by the model
        if not reading.found:
            yield AnswerEvent(self._abstain(question, passages, clock), usage)
            return
        answer = self._compose(question, reading, passages, clock)
        yield TokenEvent(answer.answer)
        yield AnswerEvent(answer, usage)

    def judge(self, question: str, usage: Usage | None = None) -> Judge:
        """The model's say on each candidate as the answer: its mean log-probability after the
        candidate's sentence and the question, in the prompt's layout, plus ``QUESTION_LIFT``
        times how much the question raises it over the sentence alone. A name the sentence
        makes likely whatever is asked (its subject, its dateline) gains nothing from the
        question. The candidates of one sentence share one evaluation of it. None when the
        backend cannot say."""
        asked = [f"Question: {' '.join(question.split())}\nAnswer:", "Answer:"]

        def likelihoods(candidates: list[Candidate]) -> list[float] | None:
            by_sentence: dict[tuple[str, int], list[int]] = {}
            for i, c in enumerate(candidates):
                by_sentence.setdefault(c.source.key, []).append(i)
            scores = [0.0] * len(candidates)
            for members in by_sentence.values():
                source = candidates[members[0]].source
                context = f"{format_passages([source.passage], [[source.sentence.text]])}\n"
                got = self.generator.likelihoods(context, asked, [" " + candidates[i].text for i in members])
                if got is None:
                    return None
                for i, with_question, without in zip(members, *got, strict=True):
                    scores[i] = with_question + QUESTION_LIFT * (with_question - without)
                if usage is not None:
                    usage.prompt_tokens += len(context + asked[0]) // 4  # an estimate: the backend counts none here
            return scores
        return likelihoods

    def _compose(self, question: Question, reading: Reading, passages: list[Passage], clock: _Clock) -> Answer:
        citations: list[Citation] = []

        def cite(source: ReadSentence, score: float) -> int:
            for c in citations:
                if (c.article_id, c.start) == source.key:
                    return c.n
            citations.append(Citation(n=len(citations) + 1, passage=source.passage.n, **ArticleRef.of(source.passage),
                                      quote=source.sentence.text, start=source.sentence.start,
                                      end=source.sentence.end, score=score))
            return len(citations)

        sentences: list[AnswerSentence] = []
        if reading.answer is not None:
            items = reading.answer.items
            marks = sorted({cite(item.source, item.score) for item in items})
            text = listed(items) if self.answer_style == "short" else \
                " ".join(dict.fromkeys(i.source.sentence.text for i in sorted(items, key=lambda i: i.source.key)))
            sentences.append(AnswerSentence(text=text, citations=marks, support=reading.confidence))
        if reading.open_statement is not None:
            statement = reading.open_statement
            sentences.append(AnswerSentence(text=statement.sentence.text, citations=[cite(statement, statement.score)],
                                            support=statement.score))
        text = " ".join(_with_marks(s) for s in sentences)
        return Answer(question=question.text, answer=text, abstained=False, sentences=sentences,
                      citations=citations, passages=passages, timings_ms=clock.total(), model=self.generator.name)

    def _abstain(self, question: Question, passages: list[Passage], clock: _Clock) -> Answer:
        return Answer(question=question.text, answer=ABSTAIN_MESSAGE, abstained=True, sentences=[],
                      citations=[], passages=passages, timings_ms=clock.total(), model=self.generator.name)


def listed(items: tuple[Candidate, ...]) -> str:
    """"A", "A and B", "A, B and C"."""
    names = [i.text for i in items]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _with_marks(sentence: AnswerSentence) -> str:
    marks = "".join(f"[{n}]" for n in sentence.citations)
    if not marks:
        return sentence.text
    body, end = (sentence.text[:-1], sentence.text[-1]) if sentence.text[-1:] in ".!?" else (sentence.text, "")
    return f"{body} {marks}{end}"


class _Clock:
    """Per-stage wall times in milliseconds."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.laps: dict[str, float] = {"retrieve": 0.0, "generate": 0.0, "verify": 0.0}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self.last) * 1000, 1)
        self.last = now

    def total(self) -> dict[str, float]:
        return {**self.laps, "total": round((time.perf_counter() - self.started) * 1000, 1)}
