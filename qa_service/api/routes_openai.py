"""OpenAI-compatible chat completions (and the model list clients ask for first).

The last user message is the question; earlier messages are not used (each
question is answered from the articles alone). The reply's content is the
verified answer with its ``[n]`` markers; the citations and passages ride
along as extra top-level fields, which OpenAI client libraries keep.

Streaming sends the chat.completion.chunk lines OpenAI clients expect, but
the content arrives in one piece once the answer is verified: the raw draft
tokens are not sent because verification may drop or renumber sentences,
and a chunk once sent cannot be taken back.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Request

from qa_service.answering import AnswerEvent, Event, Question
from qa_service.api.answers import as_api_error, ended_early, event_stream, final_answer, start
from qa_service.api.deps import Runtime, check_length, runtime
from qa_service.api.errors import ApiError, error_body
from qa_service.api.inference import Job
from qa_service.api.schemas import ChatRequest, error_responses
from qa_service.models import Answer

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/chat/completions", responses=error_responses(400, 422, 503))
async def chat_completions(body: ChatRequest, request: Request, rt: Runtime = Depends(runtime)):
    """Answer the last user message, in OpenAI's chat.completion shape (plus `citations`, `passages`)."""
    question = body.question()
    if not question:
        raise ApiError(422, "validation_error", "messages: there is no user message with text to answer")
    check_length(question, rt.settings.max_question_chars, "question", "QA_MAX_QUESTION_CHARS")
    job = start(rt, Question(question, body.top_k or rt.settings.top_k))
    reply = _Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), rt.services.generator.name)
    if body.stream:
        return event_stream(_chunks(rt, job, reply), job, sep="\n")
    return reply.completion((await final_answer(rt, job, request)).answer)


@router.get("/models")
def models(rt: Runtime = Depends(runtime)) -> dict[str, Any]:
    """The one model answering here, in OpenAI's list shape."""
    return {"object": "list", "data": [
        {"id": rt.services.generator.name, "object": "model", "created": 0, "owned_by": "qa-service"},
    ]}


class _Reply:
    """The fields every object of one reply shares."""

    def __init__(self, reply_id: str, created: int, model: str) -> None:
        self.head = {"id": reply_id, "created": created, "model": model}

    @staticmethod
    def _extras(answer: Answer) -> dict[str, Any]:
        return {
            "abstained": answer.abstained,
            "citations": [c.model_dump(mode="json") for c in answer.citations],
            "passages": [p.model_dump(mode="json") for p in answer.passages],
        }

    def completion(self, answer: Answer) -> dict[str, Any]:
        return {
            **self.head, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer},
                         "finish_reason": "stop"}],
            **self._extras(answer),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return json.dumps({
            **self.head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
        })

    def last_chunk(self, answer: Answer) -> str:
        return self.chunk({}, "stop", **self._extras(answer))


async def _chunks(rt: Runtime, job: Job[Event], reply: _Reply) -> AsyncIterator[dict]:
    yield {"data": reply.chunk({"role": "assistant", "content": ""})}
    try:
        answer = None
        async for event in job:
            if isinstance(event, AnswerEvent):
                answer = event.answer
                rt.metrics.count_answer(answer.abstained, event.usage.tokens)
        if answer is None:
            raise ended_early()
        yield {"data": reply.chunk({"content": answer.answer})}
        yield {"data": reply.last_chunk(answer)}
    except Exception as exc:
        err = as_api_error(exc)
        yield {"data": json.dumps(error_body(err.code, err.message))}
    yield {"data": "[DONE]"}
