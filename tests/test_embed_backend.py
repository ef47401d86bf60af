"""Embeddings from a server (QA_EMBED_BACKEND=openai), against real `qa-service embed-serve`
processes on 127.0.0.1: the same vectors, passages and answers as the model in process; a
server that dies mid-ingest (whole articles or none, a re-run resumes); another model refused
with the identity error; search and ask with the server down (503 naming it); and a server
that answers wrongly in each way the client checks. Every process started here is stopped
before its test ends."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from processes import BIN, clean_env, free_port, running
from pydantic import ValidationError

from index.chunking import Chunker
from index.embeddings import EmbeddingServerError, OpenAIEmbedder
from index.loaders import load_paths
from index.pipeline import Ingestor
from index.store import ChromaStore, EmbeddingModelMismatch, chunk_of_sentence, make_client
from qa_service.answering import Question
from qa_service.api.app import create_app
from qa_service.api.schemas import SearchRequest
from qa_service.client import ServiceError
from qa_service.local import LocalService, search_passages
from qa_service.services import Services
from qa_service.settings import Settings

pytestmark = pytest.mark.slow

QUESTIONS = ["What did the Bank of Korea decide about its base rate?",
             "Who did President Lee Jae Myung meet in New York on Sept. 22, 2025?",
             "Besides Lee Jae Myung and Larry Fink, who attended their meeting in New York?"]


def _embed_server(port: int, *args: str):
    """A real ``qa-service embed-serve`` (context manager); ready once the model is loaded."""
    return running([str(BIN / "qa-service"), "embed-serve", "--port", str(port), *args],
                   f"http://127.0.0.1:{port}/healthz")


def _remote(data: Path, port: int, **changes) -> Settings:
    return Settings(data_dir=data, embed_backend="openai", embed_base_url=f"http://127.0.0.1:{port}/v1", **changes)


@pytest.fixture(scope="module")
def served():
    """The port of an embed-serve process shared by the tests that do not stop it."""
    port = free_port()
    with _embed_server(port):
        yield port


# -- the same vectors, passages and answers ------------------------------------------


def test_a_server_gives_the_vectors_passages_and_answers_of_the_model_in_process(
        tmp_path, embedder, generator, demo_articles, served):
    local = Services(Settings(data_dir=tmp_path / "local", max_answer_tokens=24), embedder=embedder,
                     generator=generator)
    # Three requests in flight at once: each vector must still land at its text's place.
    remote = Services(_remote(tmp_path / "remote", served, max_answer_tokens=24, embed_workers=3),
                      generator=generator)
    # The first six hold the answers (the Bank of Korea's decision, the Fink meeting) and others beside.
    local.ingestor.ingest(demo_articles[:6])
    remote.ingestor.ingest(demo_articles[:6])

    texts = [c.text for c in local.store.iter_chunks()][:200]
    np.testing.assert_allclose(remote.embedder.embed(texts), embedder.embed(texts), atol=1e-4)
    np.testing.assert_allclose(remote.embedder.embed_query(QUESTIONS[0]), embedder.embed_query(QUESTIONS[0]),
                               atol=1e-4)
    assert remote.embedder.model_id == embedder.model_id and remote.embedder.dim == embedder.dim
    found_here = {}
    for question in QUESTIONS:
        here, there = (search_passages(s.retriever, SearchRequest(query=question), 5) for s in (local, remote))
        found_here[question] = [p.chunk_id for p in here.passages]
        assert [p.chunk_id for p in there.passages] == found_here[question], question
        np.testing.assert_allclose([p.score for p in there.passages], [p.score for p in here.passages], atol=1e-3)
    for question in QUESTIONS[:2]:
        asked = [s.answerer.result(Question(question, 5)).answer for s in (local, remote)]
        assert not asked[0].abstained and asked[1].answer == asked[0].answer, question
        assert [(c.article_id, c.quote) for c in asked[1].citations] == [
            (c.article_id, c.quote) for c in asked[0].citations], question

    # One identity (name and dimension) whichever backend computes the vectors: the
    # server reads the index built in process.
    local.close()
    remote.close()
    crossed = Services(_remote(tmp_path / "local", served), generator=generator)
    found = search_passages(crossed.retriever, SearchRequest(query=QUESTIONS[0]), 5)
    assert [p.chunk_id for p in found.passages] == found_here[QUESTIONS[0]]
    crossed.close()


# -- the server dies mid-ingest ------------------------------------------------------


def _write_articles(path: Path, n: int) -> None:
    with path.open("w") as out:
        for i in range(n):
            body = " ".join(f"Report {i} part {p}: the harbour committee of district {i % 7} met on day {p} and "
                            f"reviewed {i * 7 + p} permits and the ferry timetable." for p in range(8))
            out.write(json.dumps({"title": f"Harbour report number {i}", "url": f"https://example.org/r/{i}",
                                  "source": "embed-test", "published_at": "2025-10-01", "body": body}) + "\n")


def _assert_whole(store: ChromaStore) -> set[str]:
    """Every stored article has all its chunks, each chunk its sentences and keyword row; the ids."""
    records = store.list_articles(limit=1000)
    chunks = list(store.iter_chunks())
    by_article: dict[str, list[int]] = {}
    for c in chunks:
        by_article.setdefault(c.article_id, []).append(c.n)
    assert set(by_article) == {r.id for r in records}, "chunks without a record, or the reverse"
    for record in records:
        assert sorted(by_article[record.id]) == list(range(record.chunks)), record.id
    sentences = store.sentences.get(include=[])["ids"]
    assert {chunk_of_sentence(s) for s in sentences} == {c.id for c in chunks}, "a chunk without its sentences"
    keyword_hits = {c.id for c, _ in store.keywords.search("harbour committee", 10_000)}
    assert keyword_hits == {c.id for c in chunks}, "keyword rows differ from the stored chunks"
    return {r.id for r in records}


def test_a_server_killed_mid_ingest_leaves_whole_articles_and_a_rerun_resumes(tmp_path):
    jsonl = tmp_path / "batch.jsonl"
    _write_articles(jsonl, 20)
    articles = load_paths([jsonl]).articles
    port = free_port()
    settings = _remote(tmp_path / "data", port, embed_retries=1)

    services = Services(settings)
    with _embed_server(port) as server:
        # Groups of two articles, so that some are written before the server goes.
        ingestor = Ingestor(Chunker(settings.chunk_size, settings.chunk_overlap), services.embedder,
                            services.store, group_articles=2)
        done: list[str] = []

        def kill_after_four(article) -> None:
            done.append(article.id)
            if len(done) == 4:
                server.kill()
                server.wait()

        with pytest.raises(EmbeddingServerError, match=f"embedding server at http://127.0.0.1:{port}/v1 cannot be "
                                                       "reached"):
            ingestor.ingest(articles, on_article=kill_after_four)
    assert _assert_whole(services.store) == set(done)
    assert len(done) == 4
    services.close()

    # As the CLI reports it: the server, what was stored, what to do.
    cli = LocalService(settings)
    with pytest.raises(ServiceError, match=rf"(?s)127\.0\.0\.1:{port}/v1 cannot be reached.*0 articles were "
                                           r"stored whole.*run the same ingest again"):
        cli.ingest(articles, lambda _: None)
    cli.services.close()

    with _embed_server(port):
        resumed = Services(settings)
        report = resumed.ingestor.ingest(articles)
        assert (report.added, report.unchanged) == (16, 4)
        assert len(_assert_whole(resumed.store)) == 20
        resumed.close()


# -- another model -------------------------------------------------------------------


def test_another_model_is_refused_with_the_identity_error(tmp_path, embedder, served):
    # A server answering with another model's name than the one asked for.
    with pytest.raises(EmbeddingServerError, match="serves the embedding model 'all-MiniLM-L6-v2', not the "
                                                   "configured 'bge-small-en-v1.5'"):
        _ = Services(_remote(tmp_path / "a", served, embed_model="BAAI/bge-small-en-v1.5")).store
    # Indexes built by another model, by name or by dimension: the same error from either backend.
    for name, dim in (("bge-small-en-v1.5", 384), ("all-MiniLM-L6-v2", 768)):
        data = tmp_path / f"{name}-{dim}"
        ChromaStore(make_client(path=str(data / "chroma")), "articles", name, dim).close()
        errors = []
        for services in (Services(Settings(data_dir=data), embedder=embedder), Services(_remote(data, served))):
            pattern = re.escape(f"built with embedding model '{name}' (dim {dim})")
            with pytest.raises(EmbeddingModelMismatch, match=pattern) as refused:
                _ = services.store
            errors.append(str(refused.value))
            services.close()
        assert errors[0] == errors[1]


# -- search and ask with the server down ----------------------------------------------


def test_search_and_ask_answer_503_naming_the_embedding_server_while_it_is_down(
        tmp_path, generator, demo_articles, api_uvicorn):
    port = free_port()
    settings = _remote(tmp_path / "data", port, embed_retries=0, max_answer_tokens=24, top_k=2)
    # Named as another server might spell it: one identity with the packaged MiniLM.
    with _embed_server(port, "--served-name", "sentence-transformers/all-minilm-l6-v2"):
        services = Services(settings, generator=generator)
        services.ingestor.ingest(demo_articles[:3])
        base = api_uvicorn(create_app(settings, services))
        up = httpx.post(f"{base}/v1/search", json={"query": QUESTIONS[0]}, timeout=60)
        assert up.status_code == 200 and up.json()["passages"], up.text
        assert httpx.get(f"{base}/readyz", timeout=30).json()["checks"]["embedder_reachable"] is True

    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["embedder_reachable"] is False

    for path, body in (("/v1/search", {"query": QUESTIONS[0]}), ("/v1/ask", {"question": QUESTIONS[0]}),
                       ("/v1/articles", {"title": "A new one", "body": "The harbour committee met on Monday."})):
        down = httpx.post(f"{base}{path}", json=body, timeout=60)
        assert down.status_code == 503, (path, down.text)
        error = down.json()["error"]
        assert error["code"] == "embedding_unavailable", (path, error)
        assert f"embedding server at http://127.0.0.1:{port}/v1 cannot be reached" in error["message"], error
    assert httpx.get(f"{base}/v1/articles", timeout=30).json()["total"] == 3


# -- a server that answers wrongly ----------------------------------------------------


def _faulty_app() -> FastAPI:
    """An embeddings endpoint that fails in the way the request's model names."""
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request):
        body = await request.json()
        fault, texts = body["model"], body["input"]
        dim = 4 if fault == "changes-dimension" and len(texts) == 1 else 3
        data = [{"object": "embedding", "index": i, "embedding": [1.0] * dim} for i in range(len(texts))]
        if fault == "fails":
            return JSONResponse({"error": {"message": "out of memory"}}, status_code=500)
        if fault == "refuses":
            return JSONResponse({"error": {"message": "model 'refuses' not found"}}, status_code=404)
        if fault == "malformed":
            return PlainTextResponse('{"data": [')
        if fault == "drops-one":
            data = data[:-1]
        if fault == "slow":
            await asyncio.sleep(3)
        return {"object": "list", "model": fault, "data": data}

    return app


@pytest.mark.parametrize("fault, problem", [
    ("fails", "failed: HTTP 500: out of memory (2 attempts)"),
    ("refuses", "refused the request: HTTP 404: model 'refuses' not found"),
    ("malformed", "answered with malformed JSON"),
    ("drops-one", "returned 1 vectors for 2 texts"),
    ("slow", "did not answer within 0.5 s"),
    ("changes-dimension", "returned vectors of 3 dimensions, where it returned 4 before"),
])
def test_each_wrong_answer_is_an_error_naming_the_server(api_uvicorn, fault, problem):
    base = api_uvicorn(_faulty_app())
    embedder = OpenAIEmbedder(f"{base}/v1", fault, 16, timeout_s=0.5, retries=1)
    if fault == "changes-dimension":
        embedder.embed_query("first")
    with pytest.raises(EmbeddingServerError, match="^" + re.escape(f"the embedding server at {base}/v1 {problem}")):
        embedder.embed(["one text", "another text"])
    embedder.close()


def test_several_embedding_workers_need_the_server_backend(tmp_path):
    with pytest.raises(ValidationError, match="QA_EMBED_WORKERS=2 needs QA_EMBED_BACKEND=openai"):
        Settings(embed_workers=2)
    assert Settings(embed_workers=2, embed_backend="openai").embedding.embed_workers == 2
    client_mode = ("--server", "http://127.0.0.1:9")
    for extra, refusal in ((), "needs QA_EMBED_BACKEND=openai"), (client_mode, "for an ingest in this process"):
        done = subprocess.run([str(BIN / "qa-service"), "ingest", str(tmp_path), "--embed-workers", "2", *extra],
                              capture_output=True, text=True, timeout=120, env=clean_env(COLUMNS="300"))
        assert done.returncode == 2 and refusal in done.stderr, done.stderr
