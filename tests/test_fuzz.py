"""Property-based fuzzing of the HTTP API from its own /openapi.json (schemathesis, with
hypothesis underneath), against a real uvicorn over the real models and a real Chroma index.

Every operation is called with generated requests, both fitting the schema and not,
with the API key and without it, and every response must hold: no 5xx, the body
matches the schema documented for its status, and an error is a JSON
``{"error": {"code", "message"}}``.

Bounded so it fits CI: a fixed number of examples per operation (fewer where the
language model may run), a per-example deadline, small request limits (a
generated batch of 100 long articles would otherwise be embedded) and short
answers. Deterministic: hypothesis is derandomized and keeps no example database,
so every run sends the same requests.
"""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from qa_service.api.app import create_app
from qa_service.settings import Settings

pytestmark = pytest.mark.slow

KEY = "fuzz-key-3b7e"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Limits low enough that what gets through is cheap to embed and answer.
LIMITS = {"api_key": KEY, "max_question_chars": 300, "max_article_chars": 2_000, "max_batch_articles": 3,
          "max_upload_mb": 0.05, "max_answer_tokens": 16}
# Operations where a generated question may reach the language model.
MODEL_OPERATIONS = {("POST", "/v1/ask"), ("POST", "/v1/chat/completions")}


def _operations() -> list[tuple[str, str]]:
    """Every documented operation, from the app factory (no models needed to describe them)."""
    spec = create_app(Settings(**LIMITS)).openapi()
    return [(method.upper(), path) for path, methods in spec["paths"].items() for method in methods]


def errors_are_json(ctx, response, case) -> None:
    """Every 4xx/5xx is ``{"error": {"code", "message"}}`` sent as application/json."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error sent as {content_type!r}"
    error = response.json().get("error")
    assert isinstance(error, dict) and error.get("code") and error.get("message"), response.text


CHECKS = [not_a_server_error, response_schema_conformance, errors_are_json]


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, generator, demo_articles, api_uvicorn) -> str:
    """An index of its own (the fuzzer adds and deletes articles), holding the demo corpus."""
    from qa_service.services import Services

    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz-index"), **LIMITS)
    services = Services(settings, embedder=embedder, generator=generator)
    services.ingestor.ingest(demo_articles)
    return api_uvicorn(create_app(settings, services))


@pytest.fixture(scope="module")
def api_schema(server):
    spec = httpx.get(f"{server}/openapi.json", headers=AUTH, timeout=60).json()
    return schemathesis.openapi.from_dict(spec)


@pytest.mark.parametrize("keyed", [True, False], ids=["key", "no-key"])
@pytest.mark.parametrize("method, path", _operations())
def test_no_input_breaks_the_api(api_schema, server, method, path, keyed):
    operation = api_schema[path][method]
    model = (method, path) in MODEL_OPERATIONS

    def check(case) -> None:
        if keyed:  # else the case keeps the (wrong or empty) bearer token generated for it
            case.headers = {**(case.headers or {}), **AUTH}
        case.validate_response(case.call(base_url=server, timeout=120), checks=CHECKS)

    if keyed:
        # The documented examples first: they succeed, so the success schemas get checked
        # too (and the model answers a real question).
        for documented in operation.get_strategies_from_examples():
            check(find(documented, lambda _: True, settings=settings(database=None, derandomize=True)))

    # Without the key every guarded request stops at the guard: a few show that.
    examples = (6 if model else 40) if keyed else 4
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=examples, derandomize=True, database=None, deadline=timedelta(seconds=60 if model else 20),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
              print_blob=True)
    @given(case=cases)
    def fuzz(case) -> None:
        check(case)

    fuzz()


# The hostile-input probe's cases (issue 24), sent through schemathesis like the generated ones
# and held to the same checks, each with the status the contract gives it.
_JSON = "application/json"
_CHAT = [{"role": "user", "content": "Who won the marathon?"}]
EXAMPLES = [
    ("more files than the batch limit", "/v1/articles", "POST",
     {"body": {"files": [b"One note.", b"Two.", b"Three.", b"Four."]}, "media_type": "multipart/form-data"}, 413),
    ("empty body, articles", "/v1/articles", "POST", {"media_type": _JSON, "headers": {"Content-Type": _JSON}}, 422),
    ("empty body, ask", "/v1/ask", "POST", {"media_type": _JSON, "headers": {"Content-Type": _JSON}}, 422),
    ("an encoded surrogate, articles", "/v1/articles", "POST",
     {"body": b'{"title": "T", "body": "\xed\xa0\x80"}', "media_type": _JSON}, 400),
    ("an encoded surrogate, ask", "/v1/ask", "POST", {"body": b'{"question": "\xed\xa0\x80?"}', "media_type": _JSON},
     400),
    ("as_of as a number", "/v1/ask", "POST", {"body": {"question": "Who?", "as_of": 0}, "media_type": _JSON}, 422),
    ("published_after as a number", "/v1/search", "POST",
     {"body": {"query": "marathon", "filters": {"published_after": 0}}, "media_type": _JSON}, 422),
    ("lone surrogate in chat user", "/v1/chat/completions", "POST",
     {"body": {"messages": _CHAT, "user": "\ud800"}, "media_type": _JSON}, 422),
    ("lone surrogate in a message name", "/v1/chat/completions", "POST",
     {"body": {"messages": [{**_CHAT[0], "name": "\udfff"}]}, "media_type": _JSON}, 422),
    ("NUL in a title", "/v1/articles", "POST", {"body": {"title": "a\x00b", "body": "Text."}, "media_type": _JSON},
     422),
    ("NUL in a source", "/v1/articles", "POST",
     {"body": {"title": "T", "body": "Text.", "source": "\x00"}, "media_type": _JSON}, 422),
    ("blank ?source=", "/v1/articles", "POST",
     {"body": {"files": [b"A note."]}, "media_type": "multipart/form-data", "query": {"source": "  "}}, 422),
    ("a host with a space", "/v1/articles", "POST",
     {"body": {"title": "T", "body": "Text.", "url": "https://exa mple.com/"}, "media_type": _JSON}, 422),
    ("port 99999", "/v1/articles", "POST",
     {"body": {"title": "T", "body": "Text.", "url": "https://example.com:99999/"}, "media_type": _JSON}, 422),
    ("a title over its limit", "/v1/articles", "POST",
     {"body": {"title": "T" * 501, "body": "Text."}, "media_type": _JSON}, 413),
    ("a wrong method", "/v1/articles/{article_id}", "GET",
     {"method": "PUT", "path_parameters": {"article_id": "0123456789abcdef"}}, 405),
    ("HEAD /healthz", "/healthz", "GET", {"method": "HEAD"}, 200),
    ("HEAD /readyz", "/readyz", "GET", {"method": "HEAD"}, 200),
]


@pytest.mark.parametrize("path, method, fields, status", [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
def test_the_probe_cases_get_their_documented_answer(api_schema, server, path, method, fields, status):
    case = api_schema[path][method].Case(**fields)
    case.headers = {**(case.headers or {}), **AUTH}
    response = case.call(base_url=server, timeout=120)
    assert response.status_code == status, response.text
    if case.method == "HEAD":  # headers only: there is no body to hold to a schema
        assert response.content == b""
        return
    case.validate_response(response, checks=CHECKS)
    if status == 405:
        assert response.headers["allow"] == ["DELETE, GET, HEAD"]
