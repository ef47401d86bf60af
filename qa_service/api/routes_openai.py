"""OpenAI-compatible chat completions (and the model list clients ask for first).

The last user message is the question; earlier messages are not used (each
question is answered from the articles alone). The reply's content is the
verified answer with its ``[n]`` markers; the citations and passages ride
along as extra top-level fields, which OpenAI client libraries keep.

Streaming sends the chat.completion.chunk lines OpenAI clients expect; the
content arrives in one piece, because the reader picks a whole answer (a span
of the articles) rather than writing it token by token.

``usage`` estimates the prompt tokens the model read to judge the candidate
answers; ``completion_tokens`` is 0, since the model scores candidates and
generates nothing (both 0 when nothing relevant was found).
Sampling parameters are honoured or refused with 400 ``unsupported_parameter``
(see ``ChatRequest``): a client asking for something it will not get is told so.
"""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request

from qa_service.answering import AnswerEvent, Event, Question
from qa_service.api.answers import as_api_error, ended_early, event_stream, final_answer, question_route, start
from qa_service.api.deps import Runtime, StrictJsonRoute, check_length, runtime
from qa_service.api.errors import ApiError, error_body
from qa_service.api.inference import Job
from qa_service.api.schemas import ChatCompletion, ChatRequest, ModelList, event_stream_doc
from qa_service.generation import Usage
from qa_service.models import Answer

router = APIRouter(prefix="/v1", tags=["openai"], route_class=StrictJsonRoute)

_STREAM_DOC = event_stream_doc(
    {"data": {"type": "string", "description": "a chat.completion.chunk (JSON), an error "
                                               "{\"error\": {\"code\", \"message\"}}, or [DONE]"}},
    'data: {"object": "chat.completion.chunk", "choices": [{"delta": {"role": "assistant", '
    '"content": ""}, ...}]}\n\ndata: [DONE]\n\n')


@question_route(router, "/chat/completions", ChatCompletion, _STREAM_DOC)
async def chat_completions(body: ChatRequest, request: Request, rt: Runtime = Depends(runtime)):
    """Answer the last user message, in OpenAI's chat.completion shape (plus `citations`, `passages`)."""
    if refused := body.refused(rt.services.settings.max_answer_tokens):
        param, why = refused
        raise ApiError(400, "unsupported_parameter", f"{param}: {why}", param=param)
    question = body.question()
    if not question:
        raise ApiError(422, "validation_error", "messages: there is no user message with text to answer")
    check_length(question, rt.http.max_question_chars, "question", "QA_MAX_QUESTION_CHARS")
    job = start(rt, Question(question, body.top_k or rt.services.settings.top_k))
    reply = _Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), rt.services.generator.name)
    if body.stream:
        with_usage = body.stream_options is not None and body.stream_options.include_usage
        return event_stream(_chunks(rt, job, reply, with_usage), job, sep="\n")
    answered = await final_answer(rt, job, request)
    return reply.completion(answered.answer, answered.usage)


@router.get("/models", response_model=ModelList)
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

    @staticmethod
    def usage(usage: Usage) -> dict[str, int]:
        return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.tokens,
                "total_tokens": usage.prompt_tokens + usage.tokens}

    def completion(self, answer: Answer, usage: Usage) -> dict[str, Any]:
        return {
            **self.head, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer},
                         "finish_reason": "stop"}],
            "usage": self.usage(usage),
            **self._extras(answer),
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return json.dumps({
            **self.head, "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
        })

    def last_chunk(self, answer: Answer) -> str:
        return self.chunk({}, "stop", **self._extras(answer))

    def usage_chunk(self, usage: Usage) -> str:
        """What ``stream_options: {"include_usage": true}`` asks for: no choices, the usage."""
        return json.dumps({**self.head, "object": "chat.completion.chunk", "choices": [],
                           "usage": self.usage(usage)})


async def _chunks(rt: Runtime, job: Job[Event], reply: _Reply, with_usage: bool) -> AsyncIterator[dict]:
    yield {"data": reply.chunk({"role": "assistant", "content": ""})}
    try:
        answered = None
        async for event in job:
            if isinstance(event, AnswerEvent):
                answered = event
                rt.metrics.count_answer(event.answer.abstained, event.usage.tokens)
        if answered is None:
            raise ended_early()
        yield {"data": reply.chunk({"content": answered.answer.answer})}
        yield {"data": reply.last_chunk(answered.answer)}
        if with_usage:
            yield {"data": reply.usage_chunk(answered.usage)}
    except Exception as exc:
        err = as_api_error(exc)
        yield {"data": json.dumps(error_body(err.code, err.message))}
    yield {"data": "[DONE]"}
