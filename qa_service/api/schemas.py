"""Request and response bodies of the HTTP API, with limits and OpenAPI examples.

Limits that are settings (question length, article size, batch size) are
checked in the routes, since a pydantic field cannot read the settings;
fixed rules (types, ranges, unknown fields) live here. Numbers and booleans
are strict: ``true`` or ``"3"`` is not a ``top_k``. Every string a request
carries is ``Text``: JSON may escape a lone surrogate (``"\\ud800"``), which is
no character, cannot be encoded and crashes the tokenizers, so it is refused
with 422 naming the field; the fields OpenAI clients may add to a chat request
are checked the same way. An article's fields but its body are ``Line``s,
which hold no control character either (an escaped ``"\\u0000"``). A date
is ``Day``: ``YYYY-MM-DD`` only, where pydantic would read a number as Unix
time (``"as_of": 0`` as 1970-01-01).
"""
from __future__ import annotations

import re
from dataclasses import asdict, fields
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    create_model,
    field_validator,
    model_validator,
)

from index.article import Duplicate
from index.catalog import ArticleRecord
from qa_service.intake import control_character, url_problem
from qa_service.models import Citation, Filters, Passage

_QUESTION = "Who attended the meeting between Lee Jae Myung and Larry Fink?"
_MAX_TOP_K = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_surrogates(value: str) -> str:
    if _SURROGATE.search(value):
        raise ValueError("holds a lone surrogate escape (\\ud800-\\udfff), which is not a character")
    return value


Text = Annotated[str, AfterValidator(_no_surrogates)]


def _no_control(value: str) -> str:
    if found := control_character(value):
        raise ValueError(f"holds a control character ({found})")
    return value


Line = Annotated[Text, AfterValidator(_no_control)]


def _no_surrogates_within(value: Any) -> Any:
    """``value`` (any JSON) when none of its strings, keys included, holds a lone surrogate."""
    if isinstance(value, str):
        _no_surrogates(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_surrogates_within(key)
            _no_surrogates_within(item)
    elif isinstance(value, list):
        for item in value:
            _no_surrogates_within(item)
    return value


AnyJson = Annotated[Any, AfterValidator(_no_surrogates_within)]
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


Day = Annotated[date, BeforeValidator(_iso_day)]


def _not_blank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestFilters(Filters):
    """Filters as a request gives them."""

    sources: list[Text] | None = None
    article_ids: list[Text] | None = None
    published_after: Day | None = None
    published_before: Day | None = None


class AskRequest(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"question": _QUESTION},
        {"question": "What did the Bank of Korea decide?", "top_k": 5, "as_of": "2025-10-01",
         "filters": {"published_after": "2025-09-01"}, "stream": True},
    ]})

    question: Text = Field(description="the question (limit: QA_MAX_QUESTION_CHARS characters)")
    top_k: StrictInt | None = Field(None, ge=1, le=_MAX_TOP_K, description="passages to retrieve (default: QA_TOP_K)")
    filters: RequestFilters | None = None
    as_of: Day | None = Field(None, description="answer as of this day (YYYY-MM-DD): later articles are left out")
    stream: StrictBool = Field(False, description="server-sent events: passages, token..., answer, done")

    _question = field_validator("question")(_not_blank)


class SearchRequest(_Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"query": "BlackRock memorandum of understanding", "top_k": 3},
    ]})

    query: Text = Field(description="search text (limit: QA_MAX_QUESTION_CHARS characters)")
    top_k: StrictInt | None = Field(None, ge=1, le=_MAX_TOP_K)
    filters: RequestFilters | None = None

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

    title: Line | None = Field(None, description="required unless url is given (limit: QA_MAX_TITLE_CHARS)")
    body: Text = Field(min_length=1, description="plain text (limit: QA_MAX_ARTICLE_CHARS characters)")
    url: Line | None = Field(None, description="an http:// or https:// URL (limit: QA_MAX_URL_CHARS)",
                             json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\\s]+"})
    source: Line | None = Field(None, description="default: the URL's host, else 'local' "
                                                  "(limit: QA_MAX_SOURCE_CHARS)")
    published_at: Line | None = Field(None, description="ISO date or date-time")
    authors: list[Line] = Field([], description="limit: QA_MAX_AUTHORS_CHARS characters together")
    captions: list[Line] = Field([], description="photo captions, kept apart from the body "
                                                 "(limit: QA_MAX_CAPTIONS_CHARS characters together)")

    @field_validator("body")
    @classmethod
    def _no_nul(cls, body: str) -> str:
        if "\x00" in body:
            raise ValueError("holds a NUL character")
        return body

    @field_validator("url")
    @classmethod
    def _web_url(cls, url: str | None) -> str | None:
        # A javascript: or data: link would be handed to every client that shows the article.
        if url is not None and (problem := url_problem(url)):
            raise ValueError(problem)
        return url


class Failure(BaseModel):
    name: str
    reason: str


def _model_of(record_type: type, name: str) -> type[BaseModel]:
    """A response model with the fields and types of an ``index`` dataclass (its field list is the one
    place they are written); it validates instances of that dataclass as well as JSON."""
    hints = get_type_hints(record_type)
    required: dict[str, Any] = {f.name: (hints[f.name], ...) for f in fields(record_type)}
    return create_model(name, __config__=ConfigDict(from_attributes=True), **required)


if TYPE_CHECKING:  # what _model_of builds, as a type checker can see it: the dataclass's fields, no methods
    from index.article import ArticleFields

    class ArticleSummary(BaseModel, ArticleFields):
        chunks: int

    class DuplicateArticle(BaseModel, Duplicate): ...
else:
    ArticleSummary = _model_of(ArticleRecord, "ArticleSummary")
    DuplicateArticle = _model_of(Duplicate, "DuplicateArticle")


class IngestResponse(BaseModel):
    added: int
    updated: int
    unchanged: int
    chunks: int
    failed: list[Failure]
    warnings: list[Failure] = Field(description="articles stored with a change, e.g. a non-http(s) URL left out")
    duplicates: list[DuplicateArticle] = Field(
        [], description="articles not indexed: an article with the same text (normalised body) is stored as "
                        "`duplicate_of`")
    article_ids: list[str]


class ArticleDetail(ArticleSummary):
    body: str

    @classmethod
    def of(cls, found: tuple[ArticleRecord, str] | None) -> ArticleDetail | None:
        """From ``ChromaStore.article_with_body``."""
        return cls(**asdict(found[0]), body=found[1]) if found else None


class ArticleList(BaseModel):
    total: int
    offset: int
    limit: int
    articles: list[ArticleSummary]


class DeleteResponse(BaseModel):
    deleted: str


class SourceCount(BaseModel):
    name: str
    articles: int


class SourceList(BaseModel):
    sources: list[SourceCount] = Field(description="every source of the indexed articles, by name")


class _OpenAIShape(BaseModel):
    """A part of a chat request: fields OpenAI clients add are accepted (and have no effect),
    as long as they are text: no lone surrogate in a name or a value."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, AnyJson] = Field(init=False)

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(isinstance(k, str) and _SURROGATE.search(k) for k in data):
            raise ValueError("a field name holds a lone surrogate escape (\\ud800-\\udfff), which is not a character")
        return data


class ChatMessage(_OpenAIShape):
    """A chat message; content may be a string or a list of OpenAI content parts."""

    role: Text
    content: str | list[dict[str, Any]] | None = None

    @field_validator("content")
    @classmethod
    def _text(cls, content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        # Checked here rather than typed Text: a union of Text would name its branch in errors.
        return _no_surrogates_within(content)

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class StreamOptions(_OpenAIShape):
    include_usage: StrictBool = Field(False, description="a last chunk with `usage` and no choices")


_GREEDY = "answers are generated greedily, so that they are reproducible and checked"


class ChatRequest(_OpenAIShape):
    """OpenAI chat completions request.

    Sampling parameters are honoured or refused (400 ``unsupported_parameter``
    naming the parameter), never silently ignored; see each field. Other
    OpenAI fields (``user``, ``metadata``, ...) are accepted and have no effect.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"model": "qa-service", "messages": [{"role": "user", "content": _QUESTION}]},
    ]})

    model: Text | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    top_k: StrictInt | None = Field(None, ge=1, le=_MAX_TOP_K, description="extension: passages to retrieve")
    temperature: StrictFloat | None = Field(None, ge=0, le=2, allow_inf_nan=False,
                                            description=f"0 only: {_GREEDY}")
    top_p: StrictFloat | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                      description="any: greedy decoding picks the likeliest token whatever top_p")
    seed: StrictInt | None = Field(None, description="any: greedy answers do not depend on a seed")
    max_tokens: StrictInt | None = Field(None, ge=1, description="at least QA_MAX_ANSWER_TOKENS (the model never "
                                         "generates more than that); smaller limits are refused")
    max_completion_tokens: StrictInt | None = Field(None, ge=1, description="as max_tokens")
    n: StrictInt | None = Field(None, ge=1, description="1 only")
    stop: str | list[str] | None = Field(None, description="not supported: a stop sequence would cut the "
                                                           "verified answer")
    presence_penalty: StrictFloat | None = Field(None, ge=-2, le=2, allow_inf_nan=False, description="0 only")
    frequency_penalty: StrictFloat | None = Field(None, ge=-2, le=2, allow_inf_nan=False, description="0 only")
    logit_bias: dict[str, StrictFloat] | None = Field(None, description="empty only")
    logprobs: StrictBool | None = Field(None, description="false only")
    top_logprobs: StrictInt | None = Field(None, ge=0, le=20, description="0 only")
    response_format: dict[str, Any] | None = Field(None, description='{"type": "text"} only')
    tools: list[dict[str, Any]] | None = Field(None, description="not supported: the answer is text with citations")
    tool_choice: str | dict[str, Any] | None = Field(None, description='"none" or "auto" only')

    def question(self) -> str:
        """The last user message, which is what gets answered."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text().strip()
        return ""

    def refused(self, max_answer_tokens: int) -> tuple[str, str] | None:
        """(parameter, why) for the first parameter this service cannot honour, or None."""
        limits = (("max_tokens", self.max_tokens), ("max_completion_tokens", self.max_completion_tokens))
        rules: list[tuple[str, bool, str]] = [
            ("temperature", self.temperature not in (None, 0), f"only 0 is supported: {_GREEDY}"),
            ("n", self.n not in (None, 1), "only one choice is generated"),
            ("stop", bool(self.stop), "stop sequences are not supported: they would cut the verified answer"),
            ("presence_penalty", self.presence_penalty not in (None, 0), f"only 0 is supported: {_GREEDY}"),
            ("frequency_penalty", self.frequency_penalty not in (None, 0), f"only 0 is supported: {_GREEDY}"),
            ("logit_bias", bool(self.logit_bias), f"not supported: {_GREEDY}"),
            ("logprobs", bool(self.logprobs), "log probabilities are not returned"),
            ("top_logprobs", bool(self.top_logprobs), "log probabilities are not returned"),
            ("response_format", self.response_format not in (None, {"type": "text"}),
             "only text answers (with citations) are produced"),
            ("tools", bool(self.tools), "tools are not supported: the answer is text with citations"),
            ("tool_choice", self.tool_choice not in (None, "none", "auto"), "tools are not supported"),
            *((name, value is not None and value < max_answer_tokens,
               f"must be at least {max_answer_tokens} (QA_MAX_ANSWER_TOKENS), the most an answer is given")
              for name, value in limits),
        ]
        return next(((name, why) for name, bad, why in rules if bad), None)


class ChatAnswer(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatAnswer
    finish_reason: Literal["stop"]


class ChatUsage(BaseModel):
    prompt_tokens: int = Field(description="tokens of the prompt the model read (0 when it was not run)")
    completion_tokens: int = Field(description="tokens the model generated for the draft answer")
    total_tokens: int


class ChatCompletion(BaseModel):
    """OpenAI's chat.completion, plus the answer's citations and passages."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage
    abstained: bool
    citations: list[Citation]
    passages: list[Passage]


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

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
    400: "the body is not valid JSON (`invalid_json`); on chat completions also a parameter that "
         "cannot be honoured (`unsupported_parameter`, naming it in `param`)",
    401: "missing or wrong API key (when QA_API_KEY is set)", 404: "no such article",
    413: "a size limit was exceeded", 415: "the body is not JSON (or, for articles, multipart)",
    422: "invalid input (the message names the field)",
    503: "the inference queue is full (see Retry-After) or a backend is down",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for these error statuses."""
    return {s: {"model": ErrorResponse, "description": _ERROR_TEXTS[s]} for s in statuses}


def event_stream_doc(fields: dict[str, dict[str, Any]], example: str) -> dict[str, Any]:
    """OpenAPI content of a server-sent event stream whose events carry ``fields`` (name -> schema)."""
    return {
        "text/event-stream": {
            # itemSchema (OpenAPI 3.2): the schema of one event, not of the whole stream.
            "itemSchema": {"type": "object", "required": list(fields), "properties": fields},
            "example": example,
        }
    }
