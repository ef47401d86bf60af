"""Request and response models at the service boundary (shared by CLI and HTTP)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from pydantic import BaseModel, ConfigDict, Field

from index.keyword import KeywordFilter

DAY_SECONDS = 86400


def day_bounds(day: date) -> tuple[int, int]:
    """The first and last second of ``day`` (UTC), as epoch seconds."""
    start = int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())
    return start, start + DAY_SECONDS - 1


class Filters(BaseModel):
    """Restrict retrieval to some sources, articles or a publication window (inclusive dates)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = None
    article_ids: list[str] | None = None
    published_after: date | None = None
    published_before: date | None = None

    def keyword_filter(self, as_of: date | None = None) -> KeywordFilter:
        """This filter as the index's chunk filter (SQL conditions of the keyword search, a Chroma
        ``where`` for the vector search); ``as_of`` also ends the window."""
        window = _Window.of(self, as_of)
        return KeywordFilter(tuple(self.sources or ()), tuple(self.article_ids or ()), window.after, window.before)


@dataclass(frozen=True)
class _Window:
    """Inclusive publication window in epoch seconds (None = open)."""

    after: int | None = None
    before: int | None = None

    @classmethod
    def of(cls, filters: Filters, as_of: date | None) -> _Window:
        after = day_bounds(filters.published_after)[0] if filters.published_after else None
        befores = [day_bounds(d)[1] for d in (filters.published_before, as_of) if d]
        return cls(after, min(befores) if befores else None)


class PassageSentence(BaseModel):
    """One sentence of a passage; ``start``/``end`` are offsets in the article body."""

    text: str
    start: int
    end: int
    readable: bool = Field(True, description=("false for text addressed to a model and for the page's furniture "
                                              "(a link, a call to action): never shown to it, never support"))


class ArticleRef(BaseModel):
    """Which article a passage or a quote comes from (the fields every answer shows with it)."""

    article_id: str
    title: str
    url: str | None = None
    published_at: str | None = None

    @classmethod
    def of(cls, source: object) -> dict:
        """These fields of ``source`` (a stored chunk, a passage), to build a passage or a citation."""
        return {name: getattr(source, name) for name in ArticleRef.model_fields}


class Passage(ArticleRef):
    """A retrieved chunk, numbered ``n`` as in the prompt, with its sentences (computed once)."""

    n: int
    chunk_id: str
    text: str
    start: int = Field(description="offset of the passage in its article body")
    end: int
    score: float
    sentences: list[PassageSentence] = []


class Citation(ArticleRef):
    """A source sentence backing an answer sentence; ``quote == body[start:end]``."""

    n: int
    passage: int = Field(description="the passage number that holds the quote")
    quote: str
    start: int
    end: int
    score: float


class AnswerSentence(BaseModel):
    text: str
    citations: list[int]
    support: float
    flagged: bool = False


class Answer(BaseModel):
    """The answer JSON of design.md."""

    question: str
    answer: str
    abstained: bool
    sentences: list[AnswerSentence]
    citations: list[Citation]
    passages: list[Passage]
    timings_ms: dict[str, float]
    model: str
