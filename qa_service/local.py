"""The CLI's operations in this process, over the index and models named by the settings.

``client.ServiceClient`` offers the same methods over HTTP, with the same
request and result types, so a command prints the same thing in both modes.
Each operation loads only what it needs: article records open the index
without the embedding model (no torch), search loads no language model.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from qa_service.api.schemas import ArticleDetail, ArticleList, AskRequest, IngestResponse, SearchRequest, SearchResponse
from qa_service.client import ServiceError
from qa_service.models import Answer
from qa_service.settings import Settings

if TYPE_CHECKING:
    from index.article import Article
    from index.store import ChromaStore
    from qa_service.retrieval import Retriever
    from qa_service.services import Services


def search_passages(retriever: Retriever, request: SearchRequest, default_top_k: int) -> SearchResponse:
    """Retrieval only: the passages a question would be answered from (``/v1/search`` and the CLI)."""
    from qa_service.retrieval import to_passage

    found = retriever.retrieve(request.query, request.top_k or default_top_k, request.filters)
    passages = found.passages or [to_passage(n, c, 0.0) for n, c in enumerate(found.chunks, 1)]
    return SearchResponse(query=request.query, relevant=found.relevant, passages=passages)


class LocalService:
    """The index and models of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def where(self) -> str:
        s = self.settings
        index = f"Chroma at {s.chroma_host}:{s.chroma_port}" if s.chroma_host else f"index {s.chroma_path}"
        return f"this process ({index})"

    @cached_property
    def services(self) -> Services:
        from qa_service.services import Services

        return Services(self.settings)

    def ask(self, request: AskRequest) -> Answer:
        from qa_service.answering import Question
        from qa_service.generation import ModelUnavailable

        question = Question(request.question, request.top_k or self.settings.top_k, request.filters, request.as_of)
        try:
            with _index_checked():
                return self.services.answerer.result(question).answer
        except ModelUnavailable as err:
            raise ServiceError(f"{err}; start the model server or check QA_OPENAI_BASE_URL") from None

    def search(self, request: SearchRequest) -> SearchResponse:
        with _index_checked():
            return search_passages(self.services.retriever, request, self.settings.top_k)

    def ingest(self, articles: Iterable[Article], advance: Callable[[int], None]) -> IngestResponse:
        from index.embeddings import EmbeddingServerError
        from index.pipeline import IngestReport

        report = IngestReport()
        with _index_checked():
            try:
                self.services.ingestor.ingest(articles, report, on_article=lambda _: advance(1))
            except EmbeddingServerError as err:
                raise ServiceError(
                    f"{err}. {report.added + report.updated:,} articles were stored whole before it stopped, "
                    "none in part: start the embedding server (or check QA_EMBED_BASE_URL) and run the same "
                    "ingest again; what was stored is skipped") from None
        return IngestResponse(**report.to_dict(), warnings=[])

    def list_articles(self, offset: int, limit: int) -> ArticleList:
        store = self._records()
        if store is None:
            return ArticleList(total=0, offset=offset, limit=limit, articles=[])
        return ArticleList(total=store.count_articles(), offset=offset, limit=limit,
                           articles=store.list_articles(offset, limit))

    def article(self, article_id: str) -> ArticleDetail | None:
        store = self._records()
        return ArticleDetail.of(store.article_with_body(article_id) if store is not None else None)

    def delete(self, article_id: str) -> bool:
        store = self._records()
        return bool(store and store.delete_article(article_id))

    def _records(self) -> ChromaStore | None:
        with _index_checked():
            return self.services.records


@contextmanager
def _index_checked() -> Iterator[None]:
    """An index made with another embedding model, or an embedding server that fails, is the
    user's error to fix, not a crash."""
    from index.catalog import IncompatibleIndex
    from index.embeddings import EmbeddingServerError

    try:
        yield
    except IncompatibleIndex as err:
        raise ServiceError(str(err)) from None
    except EmbeddingServerError as err:
        raise ServiceError(f"{err}; start the embedding server or check QA_EMBED_BASE_URL") from None
