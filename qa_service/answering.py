"""Question -> retrieve -> prompt -> generate -> verify -> cited Answer (or abstain)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from typing import Iterator, Union

from index.sentences import split_sentences
from qa_service.citations import CheckedSentence, CitationChecker
from qa_service.focus import focus
from qa_service.generation import Generator, Usage
from qa_service.models import Answer, AnswerSentence, Citation, Filters, Passage
from qa_service.prompting import NOT_IN_ARTICLES, STOP, PromptBuilder, readable_indexes
from qa_service.retrieval import Retrieved, Retriever, to_passage

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
    text: str


@dataclass(frozen=True)
class AnswerEvent:
    answer: Answer
    usage: Usage


Event = Union[PassagesEvent, TokenEvent, AnswerEvent]


class Answerer:
    """The one code path for CLI, HTTP and evals."""

    def __init__(self, retriever: Retriever, prompts: PromptBuilder, generator: Generator,
                 checker: CitationChecker, *, max_tokens: int = 96, flag_unsupported: bool = False,
                 prompt_words: int = 0) -> None:
        self.retriever = retriever
        self.prompts = prompts
        self.generator = generator
        self.checker = checker
        self.max_tokens = max_tokens
        self.flag_unsupported = flag_unsupported
        self.prompt_words = prompt_words
        generator.prime(prompts.prefix)

    def ask(self, question: Question) -> Answer:
        for event in self.stream(question):
            if isinstance(event, AnswerEvent):
                return event.answer
        raise AssertionError("stream ended without an answer")

    def stream(self, question: Question) -> Iterator[Event]:
        clock = _Clock()
        found = self.retriever.retrieve(question.text, question.top_k, question.filters, question.as_of)
        clock.lap("retrieve")
        if not found.relevant:
            nearest = [to_passage(n, c, 0.0) for n, c in enumerate(found.chunks, 1)]
            yield PassagesEvent(nearest)
            yield AnswerEvent(self._abstain(question, nearest, clock), Usage())
            return
        yield PassagesEvent(found.passages)

        usage = Usage()
        pieces: list[str] = []
        prompt = self.prompts.build(question.text, found.passages, self._shown(found))
        for piece in self.generator.stream(prompt, self.max_tokens, STOP, usage):
            pieces.append(piece)
            yield TokenEvent(piece)
        clock.lap("generate")
        draft = "".join(pieces).strip()

        checked = [] if draft.startswith(NOT_IN_ARTICLES) else self.checker.check(draft, found.passages)
        clock.lap("verify")
        kept = [s for s in checked if self.flag_unsupported or s.supported(self.checker.threshold)]
        if not any(s.supported(self.checker.threshold) for s in kept):
            yield AnswerEvent(self._abstain(question, found.passages, clock), usage)
            return
        yield AnswerEvent(self._compose(question, kept, found.passages, clock), usage)

    def _shown(self, found: Retrieved) -> list[list[str]] | None:
        """The passage sentences the model reads: all, or the closest to the question within
        ``prompt_words`` (0 = all). Their vectors are the checker's, so verifying costs no more."""
        if not self.prompt_words:
            return None
        sentences, scores = [], []
        for passage, vectors in zip(found.passages, self.checker.sentence_vectors(found.passages)):
            texts = split_sentences(passage.text)
            readable = readable_indexes(texts)
            sentences.append([texts[j] for j in readable])
            scores.append(vectors[readable] @ found.query_vector)
        return focus(sentences, scores, self.prompt_words)

    def _compose(self, question: Question, checked: list[CheckedSentence],
                 passages: list[Passage], clock: "_Clock") -> Answer:
        citations: list[Citation] = []
        numbers: dict[tuple[str, int], int] = {}
        sentences: list[AnswerSentence] = []
        for sentence in checked:
            cited = []
            for source in sentence.sources:
                key = (source.passage.article_id, source.start)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    citations.append(_citation(numbers[key], source, sentence.support))
                cited.append(numbers[key])
            flagged = not sentence.supported(self.checker.threshold)
            sentences.append(AnswerSentence(text=sentence.text, citations=cited,
                                            support=sentence.support, flagged=flagged))
        text = " ".join(_with_marks(s) for s in sentences)
        return Answer(question=question.text, answer=text, abstained=False, sentences=sentences,
                      citations=citations, passages=passages, timings_ms=clock.total(),
                      model=self.generator.name)

    def _abstain(self, question: Question, passages: list[Passage], clock: "_Clock") -> Answer:
        return Answer(question=question.text, answer=ABSTAIN_MESSAGE, abstained=True, sentences=[],
                      citations=[], passages=passages, timings_ms=clock.total(), model=self.generator.name)


def _with_marks(sentence: AnswerSentence) -> str:
    marks = "".join(f"[{n}]" for n in sentence.citations)
    if not marks:
        return sentence.text
    body, end = (sentence.text[:-1], sentence.text[-1]) if sentence.text[-1:] in ".!?" else (sentence.text, "")
    return f"{body} {marks}{end}"


def _citation(n: int, source, score: float) -> Citation:
    p = source.passage
    return Citation(n=n, passage=p.n, article_id=p.article_id, title=p.title, url=p.url,
                    published_at=p.published_at, quote=source.text, start=source.start,
                    end=source.end, score=score)


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
