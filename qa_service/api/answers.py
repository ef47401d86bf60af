"""Questions through the inference queue: the final answer, or its events as SSE."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from sse_starlette import EventSourceResponse

from index.embeddings import EmbeddingServerError
from qa_service.answering import AnswerEvent, Event, PassagesEvent, Question, TokenEvent
from qa_service.api.deps import Runtime, require_json
from qa_service.api.errors import ApiError, embedding_unavailable, error_body, index_unavailable
from qa_service.api.inference import Job, QueueFull
from qa_service.api.schemas import error_responses
from qa_service.generation import ModelUnavailable

log = logging.getLogger("qa_service.api")


def question_route(router: APIRouter, path: str, response_model: type, stream_doc: dict[str, Any]):
    """POST ``path``: a question in JSON, the answer as ``response_model`` or as the events of
    ``stream_doc``; the errors of a queued question."""
    return router.post(path, response_model=response_model, dependencies=[Depends(require_json)],
                       responses={200: {"content": stream_doc}, **error_responses(400, 413, 415, 422, 503)})


def start(rt: Runtime, question: Question) -> Job[Event]:
    """Queue the question; 503 with Retry-After when the queue is full."""
    try:
        return rt.queue.submit(lambda: rt.services.answerer.stream(question),
                               interrupt=rt.services.generator.interrupt, resume=rt.services.generator.resume)
    except QueueFull as full:
        rt.metrics.queue_rejected.inc()
        raise ApiError(503, "queue_full",
                       f"the server is busy answering other questions; retry in {full.retry_after} s",
                       headers={"Retry-After": str(full.retry_after)}) from None


def as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ModelUnavailable):
        return ApiError(503, "model_unavailable", str(exc), headers={"Retry-After": "10"})
    if isinstance(exc, httpx.TransportError):
        return index_unavailable(exc)
    if isinstance(exc, EmbeddingServerError):
        return embedding_unavailable(exc)
    log.error("answering failed", exc_info=exc)
    return ApiError(500, "internal_error", "answering failed; see the server log")


def ended_early() -> ApiError:
    return ApiError(503, "shutting_down", "the server stopped before answering", headers={"Retry-After": "5"})


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone (the body is already read, so only that can arrive)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def final_answer(rt: Runtime, job: Job[Event], request: Request) -> AnswerEvent:
    """Waits for the job's answer; a client that hangs up cancels the job."""
    watcher = asyncio.create_task(_disconnected(request))
    watcher.add_done_callback(lambda task: None if task.cancelled() else job.cancel())
    result: AnswerEvent | None = None
    passages: PassagesEvent | None = None
    try:
        async for event in job:
            if isinstance(event, PassagesEvent):
                passages = event
            elif isinstance(event, AnswerEvent):
                result = event
    except Exception as exc:
        err = as_api_error(exc)
        if passages is not None and err.code == "model_unavailable":
            # Retrieval worked: what was found is still useful to the caller.
            err.extra["passages"] = [p.model_dump(mode="json") for p in passages.passages]
        raise err from exc
    finally:
        watcher.cancel()
    if result is None:
        if job.cancelled:  # nobody is left to read this; the status only shows in logs and metrics
            raise ApiError(499, "client_closed_request", "the client closed the connection")
        raise ended_early()
    rt.metrics.count_answer(result.answer.abstained, result.usage.tokens)
    return result


async def sse_events(rt: Runtime, job: Job[Event]) -> AsyncIterator[dict]:
    """The ``/v1/ask`` stream: passages, token..., answer (or error), then done."""
    answered = False
    try:
        async for event in job:
            if isinstance(event, PassagesEvent):
                yield {"event": "passages", "data": json.dumps([p.model_dump(mode="json") for p in event.passages])}
            elif isinstance(event, TokenEvent):
                yield {"event": "token", "data": json.dumps({"text": event.text})}
            elif isinstance(event, AnswerEvent):
                answered = True
                rt.metrics.count_answer(event.answer.abstained, event.usage.tokens)
                yield {"event": "answer", "data": event.answer.model_dump_json()}
        if not answered:
            raise ended_early()
    except Exception as exc:
        err = as_api_error(exc)
        yield {"event": "error", "data": json.dumps(error_body(err.code, err.message))}
    yield {"event": "done", "data": "{}"}


def event_stream(events: AsyncIterator[dict], job: Job, sep: str | None = None) -> EventSourceResponse:
    """An SSE response over ``events``; a client that hangs up cancels ``job``, even
    before the first event (when the events' own clean-up never runs)."""

    async def hung_up(_message: MutableMapping[str, Any]) -> None:
        job.cancel()

    return EventSourceResponse(events, ping=15, sep=sep, client_close_handler_callable=hung_up)
