"""The HTTP API against the real app: real models, real Chroma, and a real uvicorn
wherever connections matter (OpenAI client, queue, hang-ups).

Answers are short spans the reader takes from the articles (the model only judges the
best candidates), so assertions check shapes, orders, equalities and citations, and the
one answer the demo corpus gives to QUESTION.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa_service.answering import Question
from qa_service.api.app import create_app
from qa_service.api.server import ServeError, check_workers, run_server
from qa_service.generation import ModelUnavailable
from qa_service.settings import Settings

pytestmark = pytest.mark.slow

# A demo-corpus question the reader answers right (evals/gold/demo.jsonl, demo-048), after the
# model judged its best candidates: seconds of model work on these cores.
QUESTION = "Who won the men's race at the Busan Harbour Marathon?"
ANSWER = "Daniel Kiprono"
# Matches nothing in the demo corpus, so it abstains without running the model.
NONSENSE = "zqxv wplk frobnitz quux?"
ANSWER_KEYS = {"question", "answer", "abstained", "sentences", "citations", "passages", "timings_ms", "model"}

CHEESE = {
    "title": "Goat farmer wins gold at the Wexham Cheese Fair",
    "body": (
        "The Wexham Cheese Fair gave its gold medal on Saturday to Marta Quill, a goat farmer from Ashby, "
        "for a smoked blue cheese she ripens in a disused railway tunnel.\n\n"
        "The judges tasted 212 cheeses from 64 dairies over two days. Quill said she would spend the "
        "prize money on a second cheese cellar."
    ),
    "url": "https://news.example.org/wexham-cheese-fair",
    "source": "example-news",
    "published_at": "2025-09-20",
}
# Far from every demo article (best similarity under min_relevance), so once the
# article is deleted retrieval finds nothing and the service must abstain.
CHEESE_QUESTION = "Who is the goat farmer who won gold at the Wexham Cheese Fair?"


def api_settings(services, **changes) -> Settings:
    return services.settings.model_copy(update=changes)


@pytest.fixture(scope="module")
def client(api_services):
    app = create_app(api_settings(api_services, max_batch_articles=5, max_upload_mb=1.0), api_services)
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Live:
    url: str
    app: FastAPI


@pytest.fixture(scope="module")
def live(api_services, api_uvicorn) -> Live:
    """A uvicorn server whose queue holds one waiting job behind the running one."""
    app = create_app(api_settings(api_services, queue_size=1), api_services)
    return Live(api_uvicorn(app), app)


@dataclass
class Asked:
    """One question asked four ways: /v1/ask, its event stream, chat, streamed chat."""

    answer: dict
    events: list[tuple[str, str]]
    chat: object
    chat_chunks: list


@pytest.fixture(scope="module")
def asked(client, live) -> Asked:
    """The four requests run back to back after the same question was asked once, so
    each starts the model from the same cache state: llama.cpp reuses the previous
    prompt's prefix, and how much it reuses can change a near-tie in greedy decoding."""
    from openai import OpenAI

    assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 200
    answer = client.post("/v1/ask", json={"question": QUESTION})
    assert answer.status_code == 200, answer.text
    streamed = client.post("/v1/ask", json={"question": QUESTION, "stream": True})
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    openai = OpenAI(base_url=f"{live.url}/v1", api_key="x", max_retries=0, timeout=600)
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": QUESTION}]
    # Parameters that greedy decoding honours as they are, as frameworks send them.
    honoured = {"temperature": 0, "top_p": 0.9, "seed": 7, "max_tokens": 1024, "n": 1}
    chat = openai.chat.completions.create(model="qa-service", messages=messages, **honoured)
    chunks = list(openai.chat.completions.create(model="qa-service", messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    return Asked(answer.json(), parse_sse(streamed.text), chat, chunks)


def parse_sse(text: str) -> list[tuple[str, str]]:
    """(event name, data) pairs of a server-sent event stream."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def article_ids(client, headers: dict[str, str] | None = None) -> list[str]:
    listing = client.get("/v1/articles", params={"limit": 1000}, headers=headers).json()
    assert listing["total"] == len(listing["articles"])
    return sorted(a["id"] for a in listing["articles"])


def without_timings(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "timings_ms"}


def assert_quotes_are_verbatim(client, answer: dict) -> None:
    for citation in answer["citations"]:
        body = client.get(f"/v1/articles/{citation['article_id']}").json()["body"]
        assert body[citation["start"]:citation["end"]] == citation["quote"]


def metric(client, name: str, **labels: str) -> float:
    """A sample's value from /metrics (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


# -- asking -------------------------------------------------------------------


def test_ask_answers_with_citations_quoted_verbatim(client, asked):
    answer = asked.answer
    assert set(answer) == ANSWER_KEYS
    assert answer["question"] == QUESTION
    assert answer["abstained"] is False
    assert answer["answer"].startswith(ANSWER + " [")  # a short answer, then its citation marks
    assert answer["citations"], answer
    assert [c["n"] for c in answer["citations"]] == list(range(1, len(answer["citations"]) + 1))
    for citation in answer["citations"]:
        assert f"[{citation['n']}]" in answer["answer"]
    assert [p["n"] for p in answer["passages"]] == list(range(1, len(answer["passages"]) + 1))
    assert set(answer["timings_ms"]) == {"retrieve", "generate", "verify", "total"}
    assert_quotes_are_verbatim(client, answer)


def test_stream_sends_passages_tokens_answer_done_and_the_same_answer(asked):
    names = [name for name, _ in asked.events]
    # The answer's text comes in one token event, once it is read and judged.
    assert names == ["passages", "token", "answer", "done"], names
    assert json.loads(asked.events[1][1])["text"] == asked.answer["answer"]
    streamed = json.loads(asked.events[-2][1])
    assert without_timings(streamed) == without_timings(asked.answer)
    assert json.loads(asked.events[0][1]) == asked.answer["passages"]


def test_chat_completions_parse_with_the_openai_client(asked):
    content = asked.chat.choices[0].message.content
    assert content == asked.answer["answer"]
    assert asked.chat.choices[0].finish_reason == "stop"
    assert asked.chat.model_extra["citations"] == asked.answer["citations"]
    assert asked.chat.model_extra["passages"] == asked.answer["passages"]

    usage = asked.chat.usage
    # The model read its judged candidates' contexts and wrote nothing: the answer is the reader's span.
    assert usage.prompt_tokens > 0 and usage.completion_tokens == 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    *chunks, last = asked.chat_chunks
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == asked.answer["citations"]
    assert last.choices == [] and last.usage == usage  # stream_options.include_usage
    assert {c.id for c in asked.chat_chunks} == {chunks[0].id}


REFUSED = [
    ("temperature", 0.7), ("n", 2), ("stop", ["\n"]), ("max_tokens", 16), ("max_completion_tokens", 16),
    ("presence_penalty", 0.5), ("frequency_penalty", -1), ("logit_bias", {"1": 5}), ("logprobs", True),
    ("top_logprobs", 2), ("response_format", {"type": "json_object"}),
    ("tools", [{"type": "function", "function": {"name": "lookup"}}]), ("tool_choice", "required"),
]


@pytest.mark.parametrize("param, value", REFUSED, ids=[name for name, _ in REFUSED])
def test_chat_refuses_what_it_cannot_honour_naming_the_parameter(client, param, value):
    asked = {"messages": [{"role": "user", "content": QUESTION}], param: value}
    refused = client.post("/v1/chat/completions", json=asked)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("unsupported_parameter", param)
    assert error["message"].startswith(f"{param}: ")


def test_chat_usage_is_zero_when_the_model_did_not_run(client):
    reply = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": NONSENSE}]}).json()
    assert reply["abstained"] is True
    assert reply["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


class _FailingModel:
    """Loses its server when asked to judge the reader's candidates."""

    name = "failing"

    def __init__(self) -> None:
        self.judged = 0

    def prime(self, prefix):
        pass

    def likelihoods(self, context, endings, targets):
        self.judged += 1
        raise ModelUnavailable("model server at http://127.0.0.1:9/v1 failed: connection refused")


def test_a_model_failure_is_an_error_event_or_a_503(client, api_services, monkeypatch):
    failing = _FailingModel()
    monkeypatch.setattr(api_services.answerer, "generator", failing)
    events = parse_sse(client.post("/v1/ask", json={"question": QUESTION, "stream": True}).text)
    assert failing.judged == 1, "the model is asked to judge once the passages are read"
    assert [name for name, _ in events] == ["passages", "error", "done"]
    assert json.loads(events[1][1])["error"]["code"] == "model_unavailable"
    plain = client.post("/v1/ask", json={"question": QUESTION})
    assert plain.status_code == 503 and plain.json()["error"]["code"] == "model_unavailable"
    assert plain.json()["error"]["passages"], "the passages retrieval found come with the error"
    assert int(plain.headers["retry-after"]) >= 1


def test_search_returns_scored_passages_without_the_model(client):
    before = metric(client, "qa_tokens_generated_total")
    found = client.post("/v1/search", json={"query": "BlackRock memorandum of understanding", "top_k": 3}).json()
    assert found["relevant"] is True
    assert 1 <= len(found["passages"]) <= 3
    scores = [p["score"] for p in found["passages"]]
    assert scores == sorted(scores, reverse=True)
    assert any("BlackRock" in p["text"] for p in found["passages"])
    assert metric(client, "qa_tokens_generated_total") == before


def test_ingest_then_ask_cites_the_article_and_after_delete_abstains(client):
    """Auth is off here: writes need no key."""
    assert client.post("/v1/search", json={"query": CHEESE_QUESTION}).json()["relevant"] is False
    added = client.post("/v1/articles", json=CHEESE)
    assert added.status_code == 200, added.text
    report = added.json()
    assert (report["added"], report["updated"], report["unchanged"], report["failed"]) == (1, 0, 0, [])
    assert report["chunks"] >= 1
    (cheese_id,) = report["article_ids"]
    try:
        assert client.post("/v1/articles", json=CHEESE).json()["unchanged"] == 1

        answer = client.post("/v1/ask", json={"question": CHEESE_QUESTION}).json()
        if answer["abstained"]:
            # It abstained once in four full runs and never alone (stops 19, 20): say all that
            # tells retrieval from answering apart. pytest.fail, as an assert's message is cut.
            again = client.post("/v1/search", json={"query": CHEESE_QUESTION}).json()
            pytest.fail("abstained; " + json.dumps({
                "passages": [p["title"][:30] for p in answer["passages"]], "timings": answer["timings_ms"],
                "search_after": [again["relevant"]] + [p["title"][:30] for p in again["passages"]]}))
        assert cheese_id in {c["article_id"] for c in answer["citations"]}
        assert_quotes_are_verbatim(client, answer)
    finally:
        deleted = client.delete(f"/v1/articles/{cheese_id}")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": cheese_id}
    assert client.get(f"/v1/articles/{cheese_id}").status_code == 404

    after = client.post("/v1/ask", json={"question": CHEESE_QUESTION}).json()
    assert after["abstained"] is True
    assert after["citations"] == []
    assert cheese_id not in {p["article_id"] for p in after["passages"]}


def test_upload_reports_bad_files_next_to_good_ones(client):
    files = [
        ("files", ("fair.md", "# Wexham fair\n\n" + CHEESE["body"], "text/markdown")),
        ("files", ("latin1.txt", "Caf\u00e9 news\n\nA caf\u00e9 opened.".encode("latin-1"), "text/plain")),
    ]
    response = client.post("/v1/articles", files=files, params={"source": "uploads"})
    assert response.status_code == 200, response.text
    report = response.json()
    try:
        assert report["added"] == 1
        assert [f["name"] for f in report["failed"]] == ["latin1.txt"]
        assert "UTF-8" in report["failed"][0]["reason"]
        assert client.get(f"/v1/articles/{report['article_ids'][0]}").json()["source"] == "uploads"
    finally:
        for article_id in report["article_ids"]:
            client.delete(f"/v1/articles/{article_id}")


def test_uploaded_articles_keep_only_http_links_and_text(client):
    records = [
        {"title": "Harbour lights relit", "body": "The harbour lights were relit on Monday.",
         "url": "javascript:alert(1)"},
        {"title": "Ferry fares frozen", "body": "Ferry fares stay the same next year.", "url": "https://example.org/fares"},
    ]
    files = [("files", ("links.json", json.dumps(records), "application/json")),
             ("files", ("broken.jsonl", b'{"title": "Broken", "body": "A body with \\ud800 in it."}\n')),
             ("files", ("deep.json", b"[" * 10_000 + b"]" * 10_000))]
    response = client.post("/v1/articles", files=files)
    assert response.status_code == 200, response.text
    report = response.json()
    try:
        assert report["added"] == 2
        assert [(f["name"], f["reason"].split(" ")[:2]) for f in report["failed"]] == [
            ("broken.jsonl:1", ["a", "string"]), ("deep.json", ["invalid", "JSON:"])]
        assert [w["name"] for w in report["warnings"]] == ["links.json"]
        assert "javascript:alert(1)" in report["warnings"][0]["reason"]
        urls = sorted(str(client.get(f"/v1/articles/{i}").json()["url"]) for i in report["article_ids"])
        assert urls == ["None", "https://example.org/fares"]
    finally:
        for article_id in report["article_ids"]:
            client.delete(f"/v1/articles/{article_id}")


# -- articles -----------------------------------------------------------------


def test_articles_are_listed_in_pages_and_shown_with_body(client, demo_articles):
    first = client.get("/v1/articles", params={"limit": 4}).json()
    assert (first["total"], first["offset"], first["limit"], len(first["articles"])) == (len(demo_articles), 0, 4, 4)
    rest = client.get("/v1/articles", params={"offset": 4, "limit": 100}).json()["articles"]
    ids = [a["id"] for a in first["articles"] + rest]
    assert sorted(ids) == sorted(a.id for a in demo_articles)
    shown = client.get(f"/v1/articles/{ids[0]}").json()
    assert shown["body"] == next(a.body for a in demo_articles if a.id == ids[0])


# -- bad input: a 4xx JSON error, and nothing lost ------------------------------

_BIG_BODY = "Long story. " * 20_000  # 240,000 characters, over the 200,000 default
_JSON = {"content-type": "application/json"}
_PLAIN = b"Harbour notes\n\nThe ferry ran late on Monday because of fog in the bay."

BAD_REQUESTS = [
    ("empty question", "post", "/v1/ask", {"json": {"question": ""}}, 422, "validation_error", "question"),
    ("blank question", "post", "/v1/ask", {"json": {"question": "   "}}, 422, "validation_error", "empty"),
    ("100,000-character question", "post", "/v1/ask", {"json": {"question": "why " * 25_000}}, 422,
     "question_too_long", "QA_MAX_QUESTION_CHARS"),
    ("question of the wrong type", "post", "/v1/ask", {"json": {"question": 42}}, 422, "validation_error",
     "question"),
    ("top_k of the wrong type", "post", "/v1/ask", {"json": {"question": "Who?", "top_k": "many"}}, 422,
     "validation_error", "top_k"),
    ("invalid JSON", "post", "/v1/ask",
     {"content": b'{"question": "Who', "headers": {"content-type": "application/json"}}, 400, "invalid_json",
     "not valid JSON"),
    ("unknown field", "post", "/v1/ask", {"json": {"question": "Who?", "temperature": 0.2}}, 422,
     "validation_error", "temperature"),
    ("unknown filter", "post", "/v1/search", {"json": {"query": "Fink", "filters": {"site": "x"}}}, 422,
     "validation_error", "filters.site"),
    ("oversize article", "post", "/v1/articles", {"json": {"title": "Big", "body": _BIG_BODY}}, 413,
     "article_too_large", "QA_MAX_ARTICLE_CHARS"),
    ("batch over the limit", "post", "/v1/articles",
     {"json": [{"title": f"Note {n}", "body": "A short note."} for n in range(6)]}, 413, "batch_too_large",
     "QA_MAX_BATCH_ARTICLES"),
    ("article without a body", "post", "/v1/articles", {"json": {"title": "No body"}}, 422, "validation_error",
     "body"),
    ("one bad article in a list", "post", "/v1/articles",
     {"json": [{"title": "Fine", "body": "Fine text."}, {"title": "Bad date", "body": "x", "published_at": "soon"}]},
     422, "validation_error", "articles[1]"),
    ("non-UTF-8 upload", "post", "/v1/articles",
     {"files": {"files": ("cafe.txt", "Caf\u00e9\n\nCaf\u00e9 au lait.".encode("latin-1"))}}, 422,
     "nothing_ingested", "UTF-8"),
    ("path traversal in an upload's name", "post", "/v1/articles",
     {"files": {"files": ("../../etc/passwd.txt", _PLAIN)}}, 422, "nothing_ingested", '"name": "passwd.txt"'),
    ("upload over the size limit", "post", "/v1/articles",
     {"files": {"files": ("big.txt", _PLAIN * 20_000)}}, 413, "payload_too_large", "QA_MAX_UPLOAD_MB"),
    ("body of another type", "post", "/v1/articles",
     {"content": b"title: x", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type",
     "application/json"),
    ("missing article id on delete", "delete", "/v1/articles/0123456789abcdef", {}, 404, "article_not_found",
     "0123456789abcdef"),
    ("unknown route", "get", "/v1/nowhere", {}, 404, "not_found", "no such route"),
    ("lone surrogate in a search", "post", "/v1/search",
     {"content": b'{"query": "Who signed \\ud800 the MOU?"}', "headers": _JSON}, 422, "validation_error",
     '"field": "query"'),
    ("lone surrogate in a question", "post", "/v1/ask",
     {"content": b'{"question": "Who signed \\udfff the MOU?"}', "headers": _JSON}, 422, "validation_error",
     '"field": "question"'),
    ("lone surrogate in a chat message", "post", "/v1/chat/completions",
     {"content": b'{"messages": [{"role": "user", "content": "Who signed \\ud800 the MOU?"}]}', "headers": _JSON},
     422, "validation_error", '"field": "messages[0].content"'),
    ("lone surrogate in a filter", "post", "/v1/search",
     {"content": b'{"query": "MOU", "filters": {"sources": ["\\ud800"]}}', "headers": _JSON}, 422,
     "validation_error", '"field": "filters.sources[0]"'),
    ("lone surrogate in an article", "post", "/v1/articles",
     {"content": b'{"title": "T", "body": "Fine text \\ud800."}', "headers": _JSON}, 422, "validation_error",
     '"field": "article.body"'),
    ("lone surrogate in a field's name", "post", "/v1/chat/completions",
     {"content": b'{"messages": [{"role": "user", "content": "Who?"}], "logit_bias": {"\\ud800": "x"}}',
      "headers": _JSON}, 422, "validation_error", "logit_bias."),
    ("top_k given as true", "post", "/v1/search", {"json": {"query": "Fink", "top_k": True}}, 422,
     "validation_error", "top_k"),
    ("top_k given as a string", "post", "/v1/search", {"json": {"query": "Fink", "top_k": "3"}}, 422,
     "validation_error", "top_k"),
    ("top_k given as a float", "post", "/v1/ask", {"json": {"question": "Who?", "top_k": 3.0}}, 422,
     "validation_error", "top_k"),
    ("stream given as a string", "post", "/v1/ask", {"json": {"question": "Who?", "stream": "yes"}}, 422,
     "validation_error", "stream"),
    ("javascript: article URL", "post", "/v1/articles",
     {"json": {"title": "Link", "body": "Text.", "url": "javascript:alert(document.cookie)"}}, 422,
     "validation_error", "article.url"),
    ("data: article URL in a list", "post", "/v1/articles",
     {"json": [{"title": "Fine", "body": "Fine text."}, {"body": "x", "url": "data:text/html,<b>hi</b>"}]},
     422, "validation_error", "articles[1].url"),
    ("more files than the batch limit", "post", "/v1/articles",
     {"files": [("files", (f"note{n}.txt", _PLAIN)) for n in range(6)]}, 413, "batch_too_large",
     "QA_MAX_BATCH_ARTICLES"),
    ("as_of given as a number", "post", "/v1/ask", {"json": {"question": "Who?", "as_of": 0}}, 422,
     "validation_error", "YYYY-MM-DD"),
    ("published_after given as a number", "post", "/v1/search",
     {"json": {"query": "Fink", "filters": {"published_after": 0}}}, 422, "validation_error",
     '"field": "filters.published_after"'),
    ("a date with a time", "post", "/v1/ask", {"json": {"question": "Who?", "as_of": "2025-09-01T00:00:00"}},
     422, "validation_error", "as_of"),
    ("lone surrogate in a chat user field", "post", "/v1/chat/completions",
     {"content": b'{"messages": [{"role": "user", "content": "Who?"}], "user": "\\ud800"}', "headers": _JSON},
     422, "validation_error", '"field": "user"'),
    ("lone surrogate in a chat message name", "post", "/v1/chat/completions",
     {"content": b'{"messages": [{"role": "user", "content": "Who?", "name": "\\udfff"}]}', "headers": _JSON},
     422, "validation_error", '"field": "messages[0].name"'),
    ("escaped NUL in a title", "post", "/v1/articles",
     {"content": b'{"title": "Ferry\\u0000line", "body": "Text."}', "headers": _JSON}, 422, "validation_error",
     '"field": "article.title"'),
    ("escaped NUL in a source", "post", "/v1/articles",
     {"content": b'{"title": "T", "body": "Text.", "source": "\\u0000"}', "headers": _JSON}, 422,
     "validation_error", '"field": "article.source"'),
    ("blank ?source=", "post", "/v1/articles",
     {"files": {"files": ("note.txt", _PLAIN)}, "params": {"source": "  "}}, 422, "validation_error",
     '"field": "query.source"'),
    ("NUL in ?source=", "post", "/v1/articles",
     {"files": {"files": ("note.txt", _PLAIN)}, "params": {"source": "wire\x00"}}, 422, "validation_error",
     "control character"),
    ("a host with a space", "post", "/v1/articles",
     {"json": {"title": "Link", "body": "Text.", "url": "https://exa mple.com/"}}, 422, "validation_error",
     "article.url"),
    ("port 99999", "post", "/v1/articles",
     {"json": {"title": "Link", "body": "Text.", "url": "https://example.com:99999/"}}, 422, "validation_error",
     "article.url"),
    *((f"{field} over its limit", "post", "/v1/articles", {"json": {"title": "T", "body": "Text.", field: value}},
       413, "article_too_large", f"article.{field}: the {field}")
      for field, value in (("title", "T" * 501), ("source", "s" * 201), ("authors", ["A" * 2001]),
                           ("captions", ["c" * 20_001]), ("url", "https://example.com/" + "p" * 2000))),
]


@pytest.mark.parametrize("method, path, kwargs, status, code, mention",
                         [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_is_a_json_error_and_loses_nothing(client, method, path, kwargs, status, code, mention):
    before = article_ids(client)
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert mention in json.dumps(response.json()), response.text
    assert "../" not in response.text
    assert article_ids(client) == before


JSON_ROUTES = ["/v1/articles", "/v1/ask", "/v1/search", "/v1/chat/completions"]
FAULTS = [
    ("empty", b"", "application/json", 422, "validation_error"),
    ("an encoded surrogate", b'{"question": "\xed\xa0\x80?"}', "application/json", 400, "invalid_json"),
    ("malformed", b'{"question": "Who', "application/json", 400, "invalid_json"),
    ("not UTF-8", b'{"question": "caf\xe9?"}', "application/json", 400, "invalid_json"),
    ("nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "invalid_json"),
    ("a huge integer", b'{"top_k": ' + b"9" * 5000 + b"}", "application/json", 400, "invalid_json"),
    ("not JSON at all", b"question=Who", "text/plain", 415, "unsupported_media_type"),
]


@pytest.mark.parametrize("content, content_type, status, code", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_one_fault_is_one_error_code_on_every_route(client, content, content_type, status, code):
    for path in JSON_ROUTES:
        response = client.post(path, content=content, headers={"content-type": content_type})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (path, response.text)


# -- auth, health, metrics, page, docs ---------------------------------------


KEY = "s3cret-key-6f1d0c9a"
NOTE = {"title": "Key check", "body": "A note written to check the API key."}
# Every route that reads or writes data, the docs, and paths no route declares.
GUARDED = [
    ("post", "/v1/ask", {"json": {"question": NONSENSE}}), ("post", "/v1/search", {"json": {"query": "Fink"}}),
    ("post", "/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": NONSENSE}]}}),
    ("get", "/v1/articles", {}), ("get", "/v1/articles/0123456789abcdef", {}),
    ("delete", "/v1/articles/0123456789abcdef", {}), ("post", "/v1/articles", {"json": NOTE}),
    ("get", "/v1/models", {}), ("get", "/metrics", {}), ("get", "/docs", {}), ("get", "/openapi.json", {}),
    ("get", "/v1/nowhere", {}), ("put", "/v1/ask", {}),
]
PUBLIC = [("get", "/healthz"), ("get", "/readyz"), ("get", "/"), ("head", "/"), ("get", "/static/app.js"),
          ("get", "/favicon.ico")]


def test_every_endpoint_but_health_and_the_page_needs_the_key(api_services, caplog):
    app = create_app(api_settings(api_services, api_key=KEY), api_services)
    seen = []
    with TestClient(app) as client, caplog.at_level(logging.DEBUG):
        before = article_ids(client, {"Authorization": f"Bearer {KEY}"})
        for method, path, kwargs in GUARDED:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY},
                            {"Authorization": f"Basic {KEY}"}, {"Authorization": f"Bearer {KEY}x"}):
                refused = client.request(method, path, headers=headers, **kwargs)
                seen.append(refused.text)
                assert refused.status_code == 401, (method, path, headers)
                assert refused.headers["content-type"] == "application/json"
                assert refused.json()["error"]["code"] == "unauthorized"
                assert refused.headers["www-authenticate"] == "Bearer"
        assert article_ids(client, {"Authorization": f"Bearer {KEY}"}) == before

        key = {"Authorization": f"Bearer {KEY}"}
        for method, path, kwargs in GUARDED:
            answered = client.request(method, path, headers=key, **kwargs)
            seen.append(answered.text)
            assert answered.status_code != 401, (method, path)
            if path == "/v1/articles" and method == "post":
                (note_id,) = answered.json()["article_ids"]
                assert client.delete(f"/v1/articles/{note_id}", headers=key).status_code == 200
        assert article_ids(client, key) == before
        spec = client.get("/openapi.json", headers=key).json()
        assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert "401" in spec["paths"]["/v1/search"]["post"]["responses"]
        assert "401" not in spec["paths"]["/healthz"]["get"]["responses"]

        for method, path in PUBLIC:
            assert client.request(method, path).status_code == 200, path
    assert KEY not in caplog.text
    assert not any(KEY in text for text in seen)


def test_metrics_may_be_public_when_the_rest_needs_the_key(api_services):
    app = create_app(api_settings(api_services, api_key=KEY, metrics_public=True), api_services)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/articles").status_code == 401


def test_health_and_readiness(client, demo_articles, api_services, monkeypatch):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True
    assert body["checks"] == {"models_loaded": True, "index_reachable": True, "model_reachable": True,
                              "embedder_reachable": True}
    assert body["articles"] == len(demo_articles)
    assert body["queue"]["capacity"] == 8 and body["queue"]["waiting"] == 0

    def unreachable():
        raise ConnectionError("chroma server down")

    monkeypatch.setattr(api_services.store, "count_articles", unreachable)
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"] == {"models_loaded": True, "index_reachable": False, "model_reachable": True,
                                     "embedder_reachable": True}
    assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_tokens_and_ingests(client, asked):
    # Answers are the reader's spans: the model judges candidates and generates no token.
    assert "qa_tokens_generated_total" in client.get("/metrics").text
    assert metric(client, "qa_tokens_generated_total") == 0
    assert metric(client, "qa_answers_total", outcome="answered") >= 1
    searches = metric(client, "qa_http_requests_total", route="/v1/search", method="POST", status="200")
    ingested = metric(client, "qa_articles_ingested_total", result="added")
    client.post("/v1/search", json={"query": "Larry Fink"})
    added = client.post("/v1/articles", json={"title": "Metrics note", "body": "Counting one more article."}).json()
    client.delete(f"/v1/articles/{added['article_ids'][0]}")
    assert metric(client, "qa_http_requests_total", route="/v1/search", method="POST", status="200") == searches + 1
    assert metric(client, "qa_articles_ingested_total", result="added") == ingested + 1
    assert metric(client, "qa_http_request_duration_seconds_count", route="/v1/search", method="POST") >= 1
    assert "qa_inference_queue_waiting 0.0" in client.get("/metrics").text

    failed = metric(client, "qa_articles_ingested_total", result="failed")
    files = [("files", ("a.txt", b"\xff\xfe not text")), ("files", ("b.exe", b"MZ"))]
    assert client.post("/v1/articles", files=files).json()["error"]["code"] == "nothing_ingested"
    assert metric(client, "qa_articles_ingested_total", result="failed") == failed + 2


def test_page_static_files_and_openapi_examples(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    head = client.head("/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/missing.js").json()["error"]["code"] == "not_found"
    spec = client.get("/openapi.json").json()
    ask_schema = spec["components"]["schemas"]["AskRequest"]
    assert ask_schema["examples"][0]["question"].endswith("?")
    assert {"/v1/ask", "/v1/search", "/v1/articles", "/v1/articles/{article_id}", "/v1/chat/completions",
            "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_cors_is_closed_unless_origins_are_set(api_services, client):
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/ask", headers=preflight).headers
    app = create_app(api_settings(api_services, cors_origins=["https://elsewhere.example"]), api_services)
    with TestClient(app) as open_client:
        allowed = open_client.options("/v1/ask", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://elsewhere.example"


def test_several_workers_need_a_chroma_server(api_services):
    with pytest.raises(ServeError, match="QA_CHROMA_HOST"):
        run_server(api_settings(api_services, chroma_host=None), workers=2)
    check_workers(api_settings(api_services, chroma_host="chroma.internal"), workers=4)


# -- real server: OpenAI client, queue, hang-ups --------------------------------


def test_a_full_queue_answers_503_with_retry_after(live):
    start = threading.Barrier(6)

    def ask(_):
        start.wait()
        return httpx.post(f"{live.url}/v1/ask", json={"question": QUESTION}, timeout=600)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(ask, range(6)))
    statuses = sorted(r.status_code for r in responses)
    # One runs, one waits (queue_size=1), the other four are turned away at once.
    assert statuses == [200, 200, 503, 503, 503, 503], statuses
    for refused in (r for r in responses if r.status_code == 503):
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "queue_full"
    after = httpx.post(f"{live.url}/v1/ask", json={"question": NONSENSE}, timeout=600)
    assert after.status_code == 200 and after.json()["abstained"] is True


@contextmanager
def worker_held(queue):
    """Keeps the inference worker busy with a job of the test's own until the block ends,
    so what waits and what is turned away does not depend on the model's speed."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(120)
        yield from ()

    async def submit():
        return queue.submit(hold)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(submit())
        assert started.wait(60), "the worker never picked up the holding job"
        yield
    finally:
        release.set()
        loop.close()


def waiting(live: Live) -> int:
    return httpx.get(f"{live.url}/readyz", timeout=30).json()["queue"]["waiting"]


def idle(queue, seconds: float = 60) -> bool:
    """Whether the queue's worker is free, waiting up to ``seconds`` for the job an earlier test
    left ending (a released holding job, a cancelled stream) to finish."""
    deadline = time.monotonic() + seconds
    while queue.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    return not queue.busy


def settled(live: Live, seconds: float = 20) -> int:
    """Jobs still waiting once hang-ups have been noticed (polls up to ``seconds``)."""
    deadline = time.monotonic() + seconds
    while waiting(live) and time.monotonic() < deadline:
        time.sleep(0.1)
    return waiting(live)


def test_a_plain_request_that_hangs_up_stops_the_model_at_once(live):
    """Hung up while the model judges the reader's candidates (seconds, before any token): the
    model stops within a moment, not after judging them all."""
    queue = live.app.state.runtime.queue
    model = live.app.state.runtime.services.generator
    body = json.dumps({"question": QUESTION}).encode()
    assert idle(queue)
    server = urlsplit(live.url)
    with socket.create_connection((server.hostname, server.port)) as raw:
        raw.sendall(b"POST /v1/ask HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        deadline = time.monotonic() + 60
        while not (queue.busy and model._lock.locked()):  # the model is scoring a candidate
            assert time.monotonic() < deadline, "the question never reached the model"
            time.sleep(0.005)
    hung_up = time.monotonic()
    while queue.busy:
        time.sleep(0.005)
    assert time.monotonic() - hung_up < 1.0


def test_a_client_that_hangs_up_frees_its_place(live):
    ask = {"question": QUESTION, "stream": True}
    with worker_held(live.app.state.runtime.queue), httpx.Client(base_url=live.url, timeout=600) as client:
        queued = client.send(client.build_request("POST", "/v1/ask", json=ask), stream=True)
        assert queued.status_code == 200 and waiting(live) == 1
        assert httpx.post(f"{live.url}/v1/ask", json=ask, timeout=600).status_code == 503  # full
        queued.close()  # hangs up while waiting
        assert settled(live) == 0
        with pytest.raises(httpx.ReadTimeout):  # a plain (not streamed) request gives up too
            httpx.post(f"{live.url}/v1/ask", json={"question": QUESTION}, timeout=2)
        assert settled(live) == 0
        with httpx.stream("POST", f"{live.url}/v1/ask", json=ask, timeout=600) as again:
            assert again.status_code == 200 and waiting(live) == 1  # its place was free again
        assert settled(live) == 0


def test_a_hang_up_while_the_passages_are_read_stops_the_job_before_the_model_runs(live):
    """The client hangs up after retrieval, while the reader reads the passages: the job ends
    within a moment, not after the model judged the candidates (seconds). The job is the
    answerer's own stream, held after its passages event so that the hang-up comes there."""
    runtime = live.app.state.runtime
    at_reading, hung_up = threading.Event(), threading.Event()

    def work():
        stream = runtime.services.answerer.stream(Question(QUESTION, 5))
        yield next(stream)  # the passages
        at_reading.set()
        hung_up.wait(60)
        yield from stream

    async def submit():
        return runtime.queue.submit(work, interrupt=runtime.services.generator.interrupt,
                                    resume=runtime.services.generator.resume)

    async def cancel(job):
        job.cancel()

    assert idle(runtime.queue)
    loop = asyncio.new_event_loop()
    try:
        job = loop.run_until_complete(submit())
        assert at_reading.wait(60), "the question never got its passages"
        loop.run_until_complete(cancel(job))  # what a hang-up does (api/answers.py: final_answer)
        hung_up.set()
        stopped = time.monotonic()
        while runtime.queue.busy:
            time.sleep(0.005)
        assert time.monotonic() - stopped < 1.0
    finally:
        hung_up.set()
        loop.close()


# -- methods, failures, bounded ingest, access log ------------------------------


@pytest.mark.parametrize("method, path, allowed", [
    ("put", "/v1/articles/0123456789abcdef", "DELETE, GET, HEAD"), ("put", "/v1/ask", "POST"),
    ("post", "/healthz", "GET, HEAD"), ("delete", "/v1/articles", "GET, HEAD, POST"),
])
def test_405_names_every_method_of_the_path(client, method, path, allowed):
    refused = client.request(method, path)
    assert refused.status_code == 405 and refused.json()["error"]["code"] == "method_not_allowed"
    assert refused.headers["allow"] == allowed


@pytest.mark.parametrize("path, content_type", [("/healthz", "application/json"), ("/readyz", "application/json"),
                                                ("/favicon.ico", "image/svg+xml"), ("/", "text/html")])
def test_head_answers_wherever_get_does(client, path, content_type):
    head = client.head(path)
    assert head.status_code == 200 and head.content == b"", path
    assert head.headers["content-type"].startswith(content_type)
    assert int(head.headers["content-length"]) == len(client.get(path).content)


def test_a_500_closes_the_connection(live, monkeypatch):
    def broken(*_args):
        raise RuntimeError("the index broke in a way nobody planned for")

    monkeypatch.setattr(live.app.state.runtime.services.store, "list_articles", broken)
    with httpx.Client(base_url=live.url, timeout=60) as http:
        failed = http.get("/v1/articles")
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal_error"
        assert failed.headers["connection"] == "close"
        assert "nobody planned" not in failed.text
        assert http.get("/healthz").status_code == 200  # on a new connection, not a reset one


def _worst_body(n: int) -> str:
    """Words of letters and punctuation: text enough to index, the costliest shape for spaCy's tokenizer.
    A new text each time: the tokenizer remembers the words it has cut."""
    rng = random.Random(uuid.uuid4().int)
    return "".join(rng.choice("abcdefghij") + rng.choice("!?.,;:()[]{}'\"“”«»<>") for _ in range(n // 2))


def test_an_article_past_its_bound_fails_alone_and_a_small_upload_is_not_held_up(api_services, api_uvicorn,
                                                                                 tmp_path):
    """The issue's case: a punctuation body and a 200,000-character worst case in one upload with
    a good file. Both fail within their bound (QA_ANALYSIS_TIMEOUT_S, 1 s here), the good file is
    stored, and small uploads sent meanwhile take at most a second longer than alone."""
    services = api_services.variant(data_dir=tmp_path, collection=f"bound{uuid.uuid4().hex[:8]}",
                                    analysis_timeout_s=1.0)
    url = api_uvicorn(create_app(services.settings, services))
    notes = iter(range(1000))

    def small() -> float:
        n = next(notes)
        started = time.monotonic()
        stored = httpx.post(f"{url}/v1/articles", timeout=60, json={
            "title": f"Harbour note {n}", "body": f"The ferry ran {n} minutes late on Monday because of fog."})
        assert stored.status_code == 200 and stored.json()["added"] == 1, stored.text
        return time.monotonic() - started

    alone = min(small() for _ in range(3))
    files = [("files", ("punctuation.txt", ("!?." * 2000).encode())),
             ("files", ("worst.txt", _worst_body(200_000).encode())),
             ("files", ("ferry.md", ("# Ferry line opens\n\n" + CHEESE["body"]).encode()))]
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        big = pool.submit(httpx.post, f"{url}/v1/articles", files=files, timeout=120)
        meanwhile = []
        while not big.done():
            meanwhile.append(small())
        took = time.monotonic() - started
        report = big.result().json()
    assert report["added"] == 1 and len(report["failed"]) == 2, report
    reasons = " | ".join(f["reason"] for f in report["failed"])
    assert "not text" in reasons and "took over 1 s (QA_ANALYSIS_TIMEOUT_S)" in reasons
    assert took < 1.0 + 20, "the bound, plus the good file's embedding and writes (a generous margin)"
    assert meanwhile and max(meanwhile) < alone + 1.0, (alone, meanwhile)


def test_a_key_in_a_query_string_is_not_written_to_the_access_log(api_services):
    import uvicorn

    app = create_app(api_settings(api_services, api_key=KEY), api_services)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    handler = Keep()
    logging.getLogger("uvicorn.access").addHandler(handler)  # uvicorn's access logger does not propagate
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive()
            time.sleep(0.05)
        for query in (f"api_key={KEY}&limit=1", f"key={KEY}", f"token=abc&q={KEY}"):
            httpx.get(f"http://127.0.0.1:{port}/v1/articles?{query}", timeout=60)
    finally:
        server.should_exit = True
        thread.join(30)
        logging.getLogger("uvicorn.access").removeHandler(handler)
    assert len(lines) == 3 and all("/v1/articles?" in line for line in lines), lines
    assert not any(KEY in line or "abc" in line for line in lines), lines
