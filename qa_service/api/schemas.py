"""Request and response bodies of the HTTP API, with limits and OpenAPI examples.

Limits that are settings (question length, article size, batch size) are
checked in the routes, since a pydantic field cannot read the settings;
fixed rules (types, ranges, unknown fields) live here.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa_service.models import Filters, Passage

_QUESTION = "Who attended the meeting between Lee Jae Myung and Larry Fink?"
_MAX_TOP_K = 20


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AskRequest(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"question": _QUESTION},
        {"question": "What did the Bank of Korea decide?", "top_k": 5, "as_of": "2025-10-01",
         "filters": {"published_after": "2025-09-01"}, "stream": True},
    ]})

    question: str = Field(description="the question (limit: QA_MAX_QUESTION_CHARS characters)")
    top_k: int | None = Field(None, ge=1, le=_MAX_TOP_K, description="passages to retrieve (default: QA_TOP_K)")
    filters: Filters | None = None
    as_of: date | None = Field(None, description="answer as of this day: later articles are left out")
    stream: bool = Field(False, description="server-sent events: passages, token..., answer, done")

    _question = field_validator("question")(_not_blank)


class SearchRequest(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"query": "BlackRock memorandum of understanding", "top_k": 3},
    ]})

    query: str = Field(description="search text (limit: QA_MAX_QUESTION_CHARS characters)")
    top_k: int | None = Field(None, ge=1, le=_MAX_TOP_K)
    filters: Filters | None = None

    _query = field_validator("query")(_not_blank)


class SearchResponse(BaseModel):
    query: str
    relevant: bool = Field(description="false: nothing was similar enough; passages are the nearest ones")
    passages: list[Passage]


class ArticleIn(_Strict):
    """An article to index; the id is derived (hash of the URL, else of source + title + date)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "Harbour city opens ferry line to Pine Island",
        "body": "The city council opened a ferry line on Friday. Mayor Ana Ruiz rode the first crossing.",
        "url": "https://news.example.com/ferry",
        "source": "example-news",
        "published_at": "2025-09-23",
        "authors": ["Kim Min-ji"],
    }]})

    title: str | None = Field(None, description="required unless url is given")
    body: str = Field(min_length=1, description="plain text (limit: QA_MAX_ARTICLE_CHARS characters)")
    url: str | None = None
    source: str | None = Field(None, description="default: the URL's host, else 'local'")
    published_at: str | None = Field(None, description="ISO date or date-time")
    authors: list[str] = []
    captions: list[str] = Field([], description="photo captions, kept apart from the body")


class Failure(BaseModel):
    name: str
    reason: str


class IngestResponse(BaseModel):
    added: int
    updated: int
    unchanged: int
    chunks: int
    failed: list[Failure]
    article_ids: list[str]


class ArticleSummary(BaseModel):
    id: str
    title: str
    url: str | None
    source: str
    published_at: str | None
    authors: list[str]
    captions: list[str]
    content_hash: str | None
    chunks: int


class ArticleDetail(ArticleSummary):
    body: str


class ArticleList(BaseModel):
    total: int
    offset: int
    limit: int
    articles: list[ArticleSummary]


class DeleteResponse(BaseModel):
    deleted: str


class ChatMessage(BaseModel):
    """A chat message; content may be a string or a list of OpenAI content parts."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI chat completions request. Sampling fields (temperature, top_p, ...) are
    accepted and ignored: answers are generated greedily so they stay reproducible."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [
        {"model": "qa-service", "messages": [{"role": "user", "content": _QUESTION}]},
    ]})

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    top_k: int | None = Field(None, ge=1, le=_MAX_TOP_K, description="extension: passages to retrieve")

    def question(self) -> str:
        """The last user message, which is what gets answered."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text().strip()
        return ""


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]
    articles: int | None = None
    queue: dict[str, int]


_ERROR_TEXTS = {
    400: "the body is not valid JSON", 401: "missing or wrong API key", 404: "no such article",
    413: "a size limit was exceeded", 415: "unsupported content type",
    422: "invalid input (the message names the field)",
    503: "the inference queue is full (see Retry-After) or a backend is down",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses."""
    return {s: {"model": ErrorResponse, "description": _ERROR_TEXTS[s]} for s in statuses}
