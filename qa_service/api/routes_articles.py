"""POST/GET /v1/articles, GET/DELETE /v1/articles/{id}.

Ingest accepts JSON (one article or a list) or multipart file uploads.
A JSON batch is validated as a whole before anything is written: one bad
article rejects the request (422/413) and the index is untouched. Uploaded
files are reported one by one like the CLI's ingest: bad files are listed
under ``failed`` next to the counts, and only when *no* file yields an
article does the request fail (422 ``nothing_ingested``, listing why).
A JSON article's URL must be http(s) (422); a file's article with another
URL is stored without it and listed under ``warnings`` (see ``intake``).
Either way, an article whose analysis fails or runs past its bound is listed
under ``failed`` and the others are stored; an exact duplicate of a stored
article is listed under ``duplicates`` (see ``index.pipeline``).
"""
from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from index.article import Article
from index.catalog import ArticleRecord
from index.loaders import LoaderError, LoadFailure, LoadResult, load_upload
from index.loaders.json_records import article_from_record
from index.pipeline import IngestReport
from index.store import ChromaStore
from qa_service.api.deps import Runtime, is_json, runtime
from qa_service.api.errors import ApiError, invalid_json
from qa_service.api.schemas import (
    ArticleDetail,
    ArticleIn,
    ArticleList,
    DeleteResponse,
    Failure,
    IngestResponse,
    Line,
    Text,
    error_responses,
)
from qa_service.intake import admit, refusal

router = APIRouter(prefix="/v1/articles", tags=["articles"])
# Chroma takes the offset as a 32-bit count (a larger one is an OverflowError).
_MAX_OFFSET = 2**31 - 1

_ARTICLE = TypeAdapter(ArticleIn)
_UPLOAD_DOC = {
    "content": {
        "application/json": {"schema": {"anyOf": [
            ArticleIn.model_json_schema(), {"type": "array", "items": ArticleIn.model_json_schema()},
        ]}},
        "multipart/form-data": {"schema": {
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
        }},
    },
    "required": True,
}


@router.post("", response_model=IngestResponse, openapi_extra={"requestBody": _UPLOAD_DOC},
             responses=error_responses(400, 413, 415, 422, 503))
async def ingest(request: Request, rt: Runtime = Depends(runtime),
                 source: Line | None = Query(None, description="source name for every uploaded article "
                                                               "(limit: QA_MAX_SOURCE_CHARS)")):
    """Index articles: a JSON article or list, or files (.txt .md .html .json .jsonl) as multipart.

    Unchanged articles are skipped, changed ones replaced, exact duplicates of stored
    ones reported; the answer counts them.
    """
    content_type = request.headers.get("content-type", "")
    warnings: list[Failure] = []
    if is_json(content_type):
        loaded = LoadResult(articles=_json_articles(await request.body(), rt))
    elif content_type.split(";")[0].strip().lower() == "multipart/form-data":
        loaded = await _uploaded_articles(request, rt, _source_name(source, rt), warnings)
    else:
        raise ApiError(415, "unsupported_media_type",
                       "send application/json (an article or a list) or multipart/form-data (files)")
    report = await run_in_threadpool(_ingest, rt, loaded)
    rt.metrics.count_ingest(report)
    return {**report, "warnings": [w.model_dump() for w in warnings]}


def _ingest(rt: Runtime, loaded: LoadResult) -> dict[str, Any]:
    # The write lock is held while the index is written, not while articles are analysed
    # and embedded: a small ingest beside a large one waits for one group's writes at most.
    report = IngestReport(failed=list(loaded.failures))
    return rt.services.ingestor.ingest(loaded.articles, report, lock=rt.writes).to_dict()


def _source_name(source: str | None, rt: Runtime) -> str | None:
    """``?source=`` as it may be stored: not blank, within QA_MAX_SOURCE_CHARS."""
    if source is None:
        return None
    if not source.strip():
        raise _query_error("source", "must not be blank")
    limit = rt.http.max_source_chars
    if len(source) > limit:
        raise _query_error("source", f"is {len(source):,} characters; the limit is {limit:,} (QA_MAX_SOURCE_CHARS)")
    return source.strip()


def _query_error(name: str, message: str) -> RequestValidationError:
    """Rendered like pydantic's own errors of a query parameter."""
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message}])


def _json_articles(raw: bytes, rt: Runtime) -> list[Article]:
    """Every article of a JSON body, or an error for the whole request."""
    if not raw:  # as FastAPI answers a missing body on the other routes
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        # Strict UTF-8: json.loads of bytes would let an encoded surrogate (ED A0 80) through.
        parsed = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError) as err:
        raise invalid_json(err) from None
    if isinstance(parsed, dict):
        items, where = [parsed], ["article"]
    elif isinstance(parsed, list) and parsed:
        items, where = parsed, [f"articles[{n}]" for n in range(len(parsed))]
    else:
        raise ApiError(422, "validation_error", "send an article object or a non-empty list of them")
    _check_batch(len(items), rt)
    return [_json_article(item, name, rt) for item, name in zip(items, where, strict=True)]


def _json_article(item: Any, name: str, rt: Runtime) -> Article:
    try:
        valid = _ARTICLE.validate_python(item)
    except ValidationError as err:
        # Rendered like any other body error, the field named after its article.
        raise RequestValidationError([{**e, "loc": (name, *e["loc"])} for e in err.errors()]) from None
    try:
        article = article_from_record(valid.model_dump(exclude_none=True))
    except LoaderError as err:
        raise ApiError(422, "validation_error", f"{name}: {err}") from None
    if refused := refusal(article, rt.http):
        field = f"{name}.{refused.field}"
        code = "article_too_large" if refused.status == 413 else "validation_error"
        raise ApiError(refused.status, code, f"{field}: {refused.reason}", field=field)
    return article


def _check_batch(count: int, rt: Runtime) -> None:
    limit = rt.http.max_batch_articles
    if count > limit:
        raise ApiError(413, "batch_too_large",
                       f"the request holds {count} articles; the limit is {limit} (QA_MAX_BATCH_ARTICLES)")


def safe_name(raw: str | None) -> str:
    """The printable base name of an uploaded file's name (never a path)."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:200]
    return base if base not in ("", ".", "..") else "upload"


async def _form_files(request: Request, rt: Runtime) -> list[UploadFile]:
    limit = rt.http.max_batch_articles
    try:
        form = await request.form(max_files=limit)
    except HTTPException as err:
        # Starlette stops reading at one file over max_files and says so only in its message.
        if str(err.detail).startswith("Too many files"):
            raise ApiError(413, "batch_too_large", f"the request holds more than {limit} files; the limit is "
                                                   f"{limit} articles (QA_MAX_BATCH_ARTICLES)") from None
        raise
    files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise ApiError(422, "no_files", "the multipart body holds no files (use the field name 'files')")
    return files


async def _uploaded_articles(request: Request, rt: Runtime, source: str | None,
                             warnings: list[Failure]) -> LoadResult:
    """Articles of every uploaded file, parsed in memory; bad files and refused articles become
    failures, and what ``admit`` changed becomes a warning."""
    loaded = LoadResult()
    for upload in await _form_files(request, rt):
        name = safe_name(upload.filename)
        if name != (upload.filename or ""):
            # Directory parts are a client bug or an attack; either way refuse the
            # file rather than guess what was meant.
            loaded.failures.append(LoadFailure(name, "the file name holds directory parts or control "
                                                     "characters; send a plain file name"))
            continue
        result = await run_in_threadpool(load_upload, name, await upload.read(), source,
                                         rt.http.max_file_bytes)
        loaded.failures.extend(result.failures)
        for article in result.articles:
            admitted, note = admit(article)
            if refused := refusal(admitted, rt.http):
                loaded.failures.append(LoadFailure(name, f"article {admitted.title[:60]!r}: {refused.reason}"))
            else:
                loaded.articles.append(admitted)
                if note:
                    warnings.append(Failure(name=name, reason=f"article {admitted.title[:60]!r}: {note}"))
    _check_batch(len(loaded.articles), rt)
    if not loaded.articles:
        rt.metrics.count_rejected(len(loaded.failures))
        reasons = "; ".join(f"{f.path}: {f.reason}" for f in loaded.failures)
        raise ApiError(422, "nothing_ingested", f"no article could be loaded: {reasons}",
                       failed=[{"name": f.path, "reason": f.reason} for f in loaded.failures])
    return loaded


@router.get("", response_model=ArticleList, responses=error_responses(422, 503))
def list_articles(rt: Runtime = Depends(runtime), offset: int = Query(0, ge=0, le=_MAX_OFFSET),
                  limit: int = Query(50, ge=1, le=1000),
                  q: Text | None = Query(None, max_length=200,
                                         description="only articles whose title contains this text (any case)"),
                  sort: Literal["stored", "newest"] = Query(
                      "stored", description="`stored`: index order; `newest`: by publication date, undated last"),
                  ) -> dict[str, Any]:
    """Indexed articles without their bodies, a page at a time.

    A title search or the `newest` order reads every article record (no body)
    and pages the result; the index can neither search titles nor sort.
    """
    store = rt.services.store
    if not q and sort == "stored":
        return {"total": store.count_articles(), "offset": offset, "limit": limit,
                "articles": store.list_articles(offset, limit)}
    records = all_articles(store)
    if q:
        needle = q.casefold()
        records = [r for r in records if needle in r.title.casefold()]
    if sort == "newest":
        records.sort(key=lambda r: r.title.casefold())
        records.sort(key=lambda r: r.published_at or "", reverse=True)  # stable: same day by title
    return {"total": len(records), "offset": offset, "limit": limit, "articles": records[offset:offset + limit]}


def all_articles(store: ChromaStore) -> list[ArticleRecord]:
    """Every article record, without bodies."""
    return store.list_articles(0, max(store.count_articles(), 1))


@router.get("/{article_id}", response_model=ArticleDetail, responses=error_responses(404, 422, 503))
def get_article(article_id: str, rt: Runtime = Depends(runtime)) -> ArticleDetail:
    """One article with its body (citation offsets index into this body)."""
    detail = ArticleDetail.of(rt.services.store.article_with_body(article_id))
    if detail is None:
        raise _missing(article_id)
    return detail


@router.delete("/{article_id}", response_model=DeleteResponse, responses=error_responses(404, 422, 503))
def delete_article(article_id: str, rt: Runtime = Depends(runtime)) -> DeleteResponse:
    """Remove an article and all of its chunks."""
    with rt.writes:
        if not rt.services.store.delete_article(article_id):
            raise _missing(article_id)
    return DeleteResponse(deleted=article_id)


def _missing(article_id: str) -> ApiError:
    return ApiError(404, "article_not_found", f"no article with id {article_id!r}")
