"""Request and response models at the service boundary (shared by CLI and HTTP)."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class Filters(BaseModel):
    """Restrict retrieval to some sources, articles or a publication window (inclusive dates)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = None
    article_ids: list[str] | None = None
    published_after: date | None = None
    published_before: date | None = None


class PassageSentence(BaseModel):
    """One sentence of a passage; ``start``/``end`` are offsets in the article body."""

    text: str
    start: int
    end: int
    readable: bool = Field(True, description="false for text addressed to a model: never shown to it, never support")


class Passage(BaseModel):
    """A retrieved chunk, numbered ``n`` as in the prompt, with its sentences (computed once)."""

    n: int
    chunk_id: str
    article_id: str
    title: str
    url: str | None = None
    published_at: str | None = None
    text: str
    start: int = Field(description="offset of the passage in its article body")
    end: int
    score: float
    sentences: list[PassageSentence] = []


class Citation(BaseModel):
    """A source sentence backing an answer sentence; ``quote == body[start:end]``."""

    n: int
    passage: int = Field(description="the passage number that holds the quote")
    article_id: str
    title: str
    url: str | None = None
    published_at: str | None = None
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
