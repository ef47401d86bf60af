"""Question -> retrieve -> prompt -> generate -> verify -> cited Answer (or abstain)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterator, Union

import numpy as np

from qa_service.citations import CheckedSentence, CitationChecker
from qa_service.evidence import Evidence, rank_evidence
from qa_service.generation import Generator, Usage
from qa_service.models import Answer, AnswerSentence, ArticleRef, Citation, Filters, Passage
from qa_service.prompting import NOT_IN_ARTICLES, STOP, PromptBuilder, format_passages
from qa_service.asked import analyse_question
from qa_service.questions import QuestionProfile, is_open_statement, names_in, profile
from qa_service.reader import Candidate, ReadSentence, Reading, read, read_sentences
from qa_service.retrieval import Retriever, to_passage
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
    text: str


@dataclass(frozen=True)
class AnswerEvent:
    """The last event of a stream, and the one result of ``Answerer.result``."""

    answer: Answer
    usage: Usage


Event = Union[PassagesEvent, TokenEvent, AnswerEvent]


class Answerer:
    """The one code path for CLI, HTTP and evals.

    Extractive first: the evidence sentences that answer the question are
    found before the model runs; the model condenses them, its draft is kept
    only where verification passes, and otherwise the best answering
    sentence(s) are the answer, quoted. No answering sentence: abstain.
    """

    def __init__(self, retriever: Retriever, prompts: PromptBuilder, generator: Generator,
                 checker: CitationChecker, generation: GenerationSettings = GenerationSettings(),
                 checking: CheckingSettings = CheckingSettings()) -> None:
        self.retriever = retriever
        self.prompts = prompts
        self.generator = generator
        self.checker = checker
        self.max_tokens = generation.max_answer_tokens
        self.flag_unsupported = checking.unsupported == "flag"
        self.prompt_words = generation.prompt_words
        self.list_sentences = generation.list_sentences
        self.condense = generation.condense
        self.extractive_fallback = generation.extractive_fallback
        self.judge_candidates = generation.judge_candidates
        self.current_within_days = checking.current_within_days
        self.answer_style = generation.answer_style
        self.min_sentence_score = checking.min_sentence_score
        self.min_answer_score = checking.min_answer_score
        self._primed = False

    def warm_up(self) -> None:
        """Have the model evaluate the prompt's fixed prefix once, before the first question
        (the first question does it otherwise)."""
        if not self._primed:
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
        """Passages, then the draft's tokens (when the model runs), then the answer."""
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
                    clock: "_Clock | None" = None) -> Iterator[Event]:
        """Answer from given passages (retrieval done): evidence, draft, verification, answer."""
        self.warm_up()
        clock = clock or _Clock()
        if self.answer_style == "short":
            yield AnswerEvent(self._read(question, passages, query_vector, clock), Usage())
            return
        q = profile(question.text)
        evidence = rank_evidence(q, passages, self.checker.sentence_vectors(passages), query_vector,
                                 self._fresh_since(q, question.as_of))
        answering = self._judged([e for e in evidence if e.answers], question.text)
        if not answering:
            clock.lap("verify")
            yield AnswerEvent(self._abstain(question, passages, clock), Usage())
            return

        usage = Usage()
        checked: list[CheckedSentence] = []
        if self.condense:
            shown = best_within(answering, self.prompt_words)
            prompt = self.prompts.build(question.text, passages, by_passage(passages, shown))
            pieces: list[str] = []
            for piece in self.generator.stream(prompt, self.max_tokens, STOP, usage):
                pieces.append(piece)
                yield TokenEvent(piece)
            clock.lap("generate")
            draft = "".join(pieces).strip()
            checked = [] if draft.startswith(NOT_IN_ARTICLES) else self.checker.check(draft, q, shown)
        clock.lap("verify")
        kept = [s for s in checked if s.supported]
        if not kept and (self.extractive_fallback or not self.condense):
            kept = extract(answering[:1])
        if kept and q.wants_list:
            kept += extract(more_names(kept, evidence, q, self.list_sentences))
        kept += extract(left_open(kept, answering))
        if self.flag_unsupported:
            kept += [s for s in checked if not s.supported]
        if not any(s.supported for s in kept):
            yield AnswerEvent(self._abstain(question, passages, clock), usage)
            return
        yield AnswerEvent(self._compose(question, kept, passages, clock), usage)

    def _read(self, question: Question, passages: list[Passage], query_vector: np.ndarray, clock: "_Clock") -> Answer:
        """The reader's short answer, each item citing its whole sentence; or abstain."""
        asked = analyse_question(question.text)
        sentences = read_sentences(asked, passages, self.checker.sentence_vectors(passages), query_vector)
        reading = read(asked, sentences, self.min_sentence_score, self.min_answer_score)
        clock.lap("verify")
        if not reading.found:
            return self._abstain(question, passages, clock)
        return self._compose_reading(question, reading, passages, clock)

    def _compose_reading(self, question: Question, reading: Reading, passages: list[Passage],
                         clock: "_Clock") -> Answer:
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
            marks = [cite(item.source, item.score) for item in items]
            sentences.append(AnswerSentence(text=_listed(items), citations=sorted(set(marks)),
                                            support=reading.answer.score))
        if reading.open_statement is not None:
            statement = reading.open_statement
            sentences.append(AnswerSentence(text=statement.sentence.text, citations=[cite(statement, statement.score)],
                                            support=statement.score))
        text = " ".join(_with_marks(s) for s in sentences)
        return Answer(question=question.text, answer=text, abstained=False, sentences=sentences,
                      citations=citations, passages=passages, timings_ms=clock.total(), model=self.generator.name)

    def _fresh_since(self, q: QuestionProfile, as_of: date | None) -> date | None:
        """The earliest publication day of a story that may answer: a question about the
        present or the latest events ("Which country has become...", "this week") asked
        as of a day is not answered by a years-old story of an earlier state of things."""
        if not (q.current and as_of and self.current_within_days):
            return None
        return as_of - timedelta(days=self.current_within_days)

    def _judged(self, answering: list[Evidence], question: str) -> list[Evidence]:
        """The best ``judge_candidates`` answering sentences reordered by the model's
        likelihood of the question given each, log P(question | sentence): a small
        model judges which sentence answers better than it writes an answer. Sentences
        saying the thing is not known stay after those that give it."""
        head = [e for e in answering[: self.judge_candidates] if not is_open_statement(e.text)]
        if len(head) < 2:
            return answering
        contexts = [f"{format_passages([e.passage], [[e.text]])}\nQuestion:" for e in head]
        scores = self.generator.likelihoods(contexts, " " + " ".join(question.split()))
        if scores is None:
            return answering
        judged = [e for _, e in sorted(zip(scores, head), key=lambda pair: -pair[0])]
        return judged + [e for e in answering if all(e is not j for j in judged)]

    def _compose(self, question: Question, checked: list[CheckedSentence],
                 passages: list[Passage], clock: "_Clock") -> Answer:
        citations: list[Citation] = []
        numbers: dict[tuple[str, int], int] = {}
        sentences: list[AnswerSentence] = []
        for sentence in checked:
            cited = []
            for source in sentence.sources:
                key = (source.passage.article_id, source.sentence.start)
                if key not in numbers:
                    numbers[key] = len(citations) + 1
                    citations.append(_citation(numbers[key], source, sentence.support))
                cited.append(numbers[key])
            sentences.append(AnswerSentence(text=sentence.text, citations=cited,
                                            support=sentence.support, flagged=not sentence.supported))
        text = " ".join(_with_marks(s) for s in sentences)
        return Answer(question=question.text, answer=text, abstained=False, sentences=sentences,
                      citations=citations, passages=passages, timings_ms=clock.total(),
                      model=self.generator.name)

    def _abstain(self, question: Question, passages: list[Passage], clock: "_Clock") -> Answer:
        return Answer(question=question.text, answer=ABSTAIN_MESSAGE, abstained=True, sentences=[],
                      citations=[], passages=passages, timings_ms=clock.total(), model=self.generator.name)


def _listed(items: "tuple[Candidate, ...]") -> str:
    """"A", "A and B", "A, B and C"."""
    names = [i.text for i in items]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def extract(evidence: list[Evidence]) -> list[CheckedSentence]:
    """Evidence sentences as answer sentences, each quoting itself (and the sentence
    before it, when that one names what it refers to)."""
    return [CheckedSentence(" ".join(x.text for x in e.quoted), 1.0, e.quoted, [e.passage.n], supported=True)
            for e in evidence]


def more_names(kept: list[CheckedSentence], evidence: list[Evidence], q: QuestionProfile,
               limit: int) -> list[Evidence]:
    """Sentences naming more people in the asked role, for list questions ("who attended").

    Candidates come from the stories the answer already quotes (the question
    is about that event, not every meeting in the index): sentences that
    state the whole predicate, and the sentence just before a quoted one when
    it states part of it, since "joined at the meeting" names only some of
    those the previous sentence introduced ("Lee sat down with Fink").
    """
    quoted = [e for s in kept for e in s.sources]
    articles = {e.passage.article_id for e in quoted}
    before = {_previous(e, evidence) for e in quoted} - {None}
    named = {n for s in kept for n in names_in(s.text)} | {t.lower() for t in q.topic}
    seen = {(e.passage.article_id, e.sentence.start) for e in quoted}
    extra = []
    for e in evidence:
        key = (e.passage.article_id, e.sentence.start)
        if e.passage.article_id not in articles or key in seen or len(kept) + len(extra) >= limit:
            continue
        if (e.answers or (key in before and e.predicate >= 0.5)) and names_in(e.text) - named:
            extra.append(e)
            named |= names_in(e.text)
            seen.add(key)
    return sorted(extra, key=lambda e: e.sentence.start)


def left_open(kept: list[CheckedSentence], answering: list[Evidence]) -> list[Evidence]:
    """The statement, in a story the answer quotes, that the thing asked is not (yet) known
    ("the memorandum did not put a figure on how much BlackRock will invest"): an estimate
    without it would read as the figure."""
    quoted = {(e.passage.article_id, e.sentence.start) for s in kept for e in s.sources}
    articles = {article for article, _ in quoted}
    return [e for e in answering if e.passage.article_id in articles and is_open_statement(e.text)
            and (e.passage.article_id, e.sentence.start) not in quoted][:1]


def _previous(e: Evidence, evidence: list[Evidence]) -> tuple[str, int] | None:
    """The key of the sentence just before ``e`` in its article, if it is among the evidence."""
    earlier = [x for x in evidence if x.passage.article_id == e.passage.article_id and x.sentence.end <= e.sentence.start]
    if not earlier:
        return None
    last = max(earlier, key=lambda x: x.sentence.end)
    return last.passage.article_id, last.sentence.start


def best_within(evidence: list[Evidence], budget_words: int) -> list[Evidence]:
    """The best evidence while ``budget_words`` lasts (at least one sentence).

    This is what the model reads and what its draft may cite: it only
    chooses among, and condenses, the sentences that answer best. Prompt
    processing is most of an answer's time on a CPU, and a small model mixes
    facts of sentences beside the point.
    """
    chosen, used = [], 0
    for e in evidence:
        cost = len(e.text.split())
        if not chosen or used + cost <= budget_words:
            chosen.append(e)
            used += cost
    return chosen


def by_passage(passages: list[Passage], evidence: list[Evidence]) -> list[list[str]]:
    """Each passage's sentences among ``evidence``, in text order (the prompt's layout)."""
    keys = {(x.passage.n, x.sentence.start) for e in evidence for x in e.quoted}
    return [[s.text for s in p.sentences if (p.n, s.start) in keys] for p in passages]


def _with_marks(sentence: AnswerSentence) -> str:
    marks = "".join(f"[{n}]" for n in sentence.citations)
    if not marks:
        return sentence.text
    body, end = (sentence.text[:-1], sentence.text[-1]) if sentence.text[-1:] in ".!?" else (sentence.text, "")
    return f"{body} {marks}{end}"


def _citation(n: int, source: Evidence, score: float) -> Citation:
    return Citation(n=n, passage=source.passage.n, **ArticleRef.of(source.passage), quote=source.text,
                    start=source.sentence.start, end=source.sentence.end, score=score)


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
