"""POST /v1/ask (JSON or server-sent events) and POST /v1/search."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from qa_service.answering import Question
from qa_service.api.answers import event_stream, final_answer, question_route, sse_events, start
from qa_service.api.deps import Runtime, StrictJsonRoute, check_length, require_json, runtime
from qa_service.api.schemas import AskRequest, SearchRequest, SearchResponse, error_responses, event_stream_doc
from qa_service.local import search_passages
from qa_service.models import Answer

router = APIRouter(prefix="/v1", tags=["questions"], route_class=StrictJsonRoute)

_STREAM_DOC = event_stream_doc(
    {"event": {"type": "string", "enum": ["passages", "token", "answer", "error", "done"]},
     "data": {"type": "string", "description": "JSON: the passages, {\"text\"}, the Answer, "
                                               "{\"error\": {\"code\", \"message\"}} or {}"}},
    'event: passages\ndata: [{"n": 1, ...}]\n\nevent: token\ndata: {"text": " Larry"}\n\n'
    'event: answer\ndata: {"question": ..., "answer": ...}\n\nevent: done\ndata: {}\n\n')


@question_route(router, "/ask", Answer, _STREAM_DOC)
async def ask(body: AskRequest, request: Request, rt: Runtime = Depends(runtime)):
    """Answer a question from the indexed articles, with verified citations.

    With `"stream": true` the answer comes as server-sent events: `passages`
    (the retrieved passages), `token` (`{"text"}`, the draft as generated),
    `answer` (the final, verified Answer: it may differ from the draft, since
    unsupported sentences are dropped), `error` (`{"error": {"code", "message"}}`)
    and finally `done`.
    """
    check_length(body.question, rt.http.max_question_chars, "question", "QA_MAX_QUESTION_CHARS")
    question = Question(body.question, body.top_k or rt.services.settings.top_k, body.filters, body.as_of)
    job = start(rt, question)
    if body.stream:
        return event_stream(sse_events(rt, job), job)
    return (await final_answer(rt, job, request)).answer


@router.post("/search", response_model=SearchResponse, dependencies=[Depends(require_json)],
             responses=error_responses(400, 413, 415, 422, 503))
def search(body: SearchRequest, rt: Runtime = Depends(runtime)) -> SearchResponse:
    """Retrieval only (no language model): the passages a question would be answered from.

    Runs in a worker thread, beside the inference queue.
    """
    check_length(body.query, rt.http.max_question_chars, "query", "QA_MAX_QUESTION_CHARS")
    return search_passages(rt.services.retriever, body, rt.services.settings.top_k)
