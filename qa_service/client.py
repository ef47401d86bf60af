"""The CLI's client mode: the operations of ``local.LocalService`` against a running
qa-service over HTTP, with the same request and result types.

No model and no index is loaded here, so a command starts in about a second
and adds no memory next to the server. Every failure becomes a ``ServiceError``
whose message names the problem and what to do about it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from qa_service.api.schemas import (
    ArticleDetail,
    ArticleList,
    AskRequest,
    DeleteResponse,
    Failure,
    IngestResponse,
    SearchRequest,
    SearchResponse,
)
from qa_service.models import Answer

if TYPE_CHECKING:
    from index.article import Article

Model = TypeVar("Model", bound=BaseModel)


class ServiceError(RuntimeError):
    """A failure to report in one line: what went wrong and what to do (exit status 1)."""


class ServiceClient:
    """A qa-service server at ``base_url``; ``origin`` says where the URL came from, for messages."""

    def __init__(self, base_url: str, *, api_key: str | None, timeout_s: float, origin: str,
                 max_batch_articles: int, max_article_chars: int, max_request_bytes: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin
        self.timeout_s = timeout_s
        # The server's limits are not published; these are the client's own settings,
        # the same QA_* names and defaults as the server's.
        self.max_batch_articles = max_batch_articles
        self.max_article_chars = max_article_chars
        self.max_request_bytes = max_request_bytes
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers,
                                  timeout=httpx.Timeout(timeout_s, connect=5.0))

    @property
    def where(self) -> str:
        return f"the server at {self.base_url}"

    def ask(self, request: AskRequest) -> Answer:
        return self._send("POST", "/v1/ask", Answer, json=request.model_dump(mode="json", exclude_none=True))

    def search(self, request: SearchRequest) -> SearchResponse:
        return self._send("POST", "/v1/search", SearchResponse,
                          json=request.model_dump(mode="json", exclude_none=True))

    def ingest(self, articles: Iterable[Article], advance: Callable[[int], None]) -> IngestResponse:
        """POSTs the articles as JSON in batches within the request limits, as they come; an
        article over the size limit is reported as failed, as the server does for an uploaded file."""
        total = IngestResponse(added=0, updated=0, unchanged=0, chunks=0, failed=[], warnings=[], article_ids=[])
        sent = 0
        for batch in self._batches(self._records(articles, total, advance)):
            try:
                done = self._send("POST", "/v1/articles", IngestResponse, json=batch)
            except ServiceError as err:
                raise ServiceError(f"{err} ({sent} articles were indexed before)") from None
            for field in ("added", "updated", "unchanged", "chunks"):
                setattr(total, field, getattr(total, field) + getattr(done, field))
            total.failed += done.failed
            total.warnings += done.warnings
            total.duplicates += done.duplicates
            total.article_ids += done.article_ids
            sent += len(batch)
            advance(len(batch))
        return total

    def _records(self, articles: Iterable[Article], total: IngestResponse,
                 advance: Callable[[int], None]) -> Iterator[dict[str, Any]]:
        for article in articles:
            if len(article.body) > self.max_article_chars:
                total.failed.append(Failure(
                    name=f"article {article.title[:60]!r}",
                    reason=f"the body is {len(article.body):,} characters; the server's limit is "
                           f"{self.max_article_chars:,} (QA_MAX_ARTICLE_CHARS)"))
                advance(1)
            else:
                yield _record(article)

    def _batches(self, records: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        batch: list[dict[str, Any]] = []
        size = 2  # the list's brackets
        for record in records:
            record_size = len(json.dumps(record).encode()) + 1
            if batch and (len(batch) == self.max_batch_articles or size + record_size > self.max_request_bytes):
                yield batch
                batch, size = [], 2
            batch.append(record)
            size += record_size
        if batch:
            yield batch

    def list_articles(self, offset: int, limit: int) -> ArticleList:
        return self._send("GET", "/v1/articles", ArticleList, params={"offset": offset, "limit": limit})

    def article(self, article_id: str) -> ArticleDetail | None:
        return self._send("GET", f"/v1/articles/{_segment(article_id)}", ArticleDetail, missing_ok=True)

    def delete(self, article_id: str) -> bool:
        return self._send("DELETE", f"/v1/articles/{_segment(article_id)}", DeleteResponse,
                          missing_ok=True) is not None

    @overload
    def _send(self, method: str, path: str, model: type[Model], *, missing_ok: Literal[False] = False,
              **kwargs: Any) -> Model: ...

    @overload
    def _send(self, method: str, path: str, model: type[Model], *, missing_ok: Literal[True],
              **kwargs: Any) -> Model | None: ...

    def _send(self, method: str, path: str, model: type[Model], *, missing_ok: bool = False,
              **kwargs: Any) -> Model | None:
        """The response parsed as ``model``; None for a missing article when ``missing_ok``."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ServiceError(f"{self.where} did not answer within {self.timeout_s:g} s; it may be busy: "
                               "retry, or raise QA_CLIENT_TIMEOUT_S") from None
        except httpx.TransportError as err:
            raise ServiceError(f"cannot reach a qa-service server at {self.base_url} ({self.origin}): "
                               f"{_reason(err)}. Start it with `qa-service serve`, or {self._go_local()}") from None
        if response.is_success:
            try:
                return model.model_validate_json(response.content)
            except ValidationError:
                raise ServiceError(f"{self.base_url} answered {path} with something other than a qa-service "
                                   f"{model.__name__}; is {self.origin} the address of a qa-service server?") from None
        error = _error_of(response)
        if error is None:
            raise ServiceError(f"{self.base_url} answered HTTP {response.status_code} without a qa-service error; "
                               f"is {self.origin} the address of a qa-service server?")
        code, message = error
        if missing_ok and code == "article_not_found":
            return None
        if code == "unauthorized":
            raise ServiceError(f"{self.where} needs its API key: set QA_API_KEY to the server's key ({message})")
        if response.status_code >= 500 and code not in ("queue_full", "model_unavailable", "index_unavailable"):
            raise ServiceError(f"{self.where} failed: {message}; see the server's log")
        raise ServiceError(f"{self.where} refused the request: {message}")

    def _go_local(self) -> str:
        if self.origin == "QA_SERVER_URL":
            return "unset QA_SERVER_URL (or pass --local) to work in this process"
        return "leave out --server to work in this process"


def _record(article: Article) -> dict[str, Any]:
    """An article as the JSON ingest takes it; the server derives the same id and hash."""
    fields = asdict(article)
    del fields["id"], fields["content_hash"]
    return {k: v for k, v in fields.items() if v is not None}


def _segment(article_id: str) -> str:
    return quote(article_id, safe="")


def _error_of(response: httpx.Response) -> tuple[str, str] | None:
    """(code, message) of a qa-service error body, or None for anything else."""
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return None


def _reason(err: httpx.TransportError) -> str:
    text = str(err).strip()
    if isinstance(err, httpx.ConnectError) and ("refused" in text.lower() or not text):
        return "connection refused"
    return text or type(err).__name__
