"""Fault tests with real processes on 127.0.0.1: a killed ingest, a Chroma server
and a model server that go away while the API runs, and a refused multi-worker
start. Every process started here is stopped before its test ends."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from processes import BIN, free_port, llama_server
from processes import chroma_server as _chroma
from processes import clean_env as _env
from processes import stop as _stop

from qa_service.api.app import create_app
from qa_service.generation import ModelUnavailable
from qa_service.services import Services
from qa_service.settings import Settings

# Loads the real models or starts servers: not part of `make test-fast`.
pytestmark = pytest.mark.slow

QUESTION = "What did the Bank of Korea decide about its base rate?"
# Generous for a loaded 2-core machine; the point is "answers", not "hangs".
FAIL_FAST_S = 15.0


def _timed_ask(base: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(f"{base}/v1/ask", json={"question": QUESTION}, timeout=120)
    return response, time.monotonic() - started


# -- 1. kill -9 during a large ingest --------------------------------------------------


def _write_articles(path: Path, n: int) -> None:
    # A few distinct paragraphs each, so every article makes several chunks.
    with path.open("w") as out:
        for i in range(n):
            body = " ".join(
                f"Report {i} part {p}: the harbour committee of district {i % 17} met on day {p} "
                f"and reviewed {i * 7 + p} permits, {p * 3} budget lines and the ferry timetable."
                for p in range(12)
            )
            out.write(json.dumps({"title": f"Harbour report number {i}", "url": f"https://example.org/r/{i}",
                                  "source": "fault-test", "published_at": "2025-10-01", "body": body}) + "\n")


def _rows_written(db: Path) -> int:
    """Records Chroma has taken so far (read-only peek, so the writer is not disturbed)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5) as con:
            return con.execute("SELECT (SELECT count(*) FROM embeddings_queue) + "
                               "(SELECT count(*) FROM embeddings)").fetchone()[0]
    except sqlite3.Error:
        return 0  # tables not created yet, or briefly locked


def _keyword_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "chroma" / "articles.keywords.sqlite3") as con:
        return {i for i, in con.execute("SELECT id FROM chunks")}


def _ingest(jsonl: Path, data: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "qa-service"), "ingest", str(jsonl), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=_env(QA_DATA_DIR=str(data)))


def test_killed_ingest_rerun_leaves_a_consistent_index(tmp_path, embedder):
    n_articles = 150
    jsonl = tmp_path / "batch.jsonl"
    _write_articles(jsonl, n_articles)
    data = tmp_path / "data"
    db = data / "chroma" / "chroma.sqlite3"

    first = _ingest(jsonl, data)
    try:
        deadline = time.monotonic() + 180
        while _rows_written(db) < 60:
            assert first.poll() is None, f"ingest ended before it could be killed: {first.communicate()}"
            assert time.monotonic() < deadline, "ingest wrote nothing within 180 s"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        _stop(first)
        first.communicate()
    assert first.returncode == -signal.SIGKILL

    settings = Settings(data_dir=data)
    killed = Services(settings, embedder=embedder).store
    partial = killed.count_articles()
    assert partial < n_articles, "the kill came after the ingest had finished"
    assert _keyword_ids(data) <= {c.id for c in killed.iter_chunks()}, "a keyword row of a chunk not stored"

    second = subprocess.run([str(BIN / "qa-service"), "ingest", str(jsonl), "--json"], capture_output=True,
                            text=True, timeout=600, env=_env(QA_DATA_DIR=str(data)))
    assert second.returncode == 0, second.stderr[-2000:]
    report = json.loads(second.stdout)
    assert report["added"] + report["updated"] + report["unchanged"] == n_articles
    assert report["unchanged"] == partial  # complete articles from the first run are kept as they are

    store = Services(settings, embedder=embedder).store
    records = store.list_articles(limit=10 * n_articles)
    chunks = list(store.iter_chunks())
    per_article = Counter(c.article_id for c in chunks)
    assert len(records) == store.count_articles() == n_articles
    assert len({c.id for c in chunks}) == len(chunks) == store.count_chunks()
    assert set(per_article) == {r.id for r in records}, "chunks without an article record, or the reverse"
    assert _keyword_ids(data) == {c.id for c in chunks}, "chunks without keyword rows, or the reverse"
    for record in records:
        assert record.chunks == per_article[record.id] > 1, record.id
        numbers = sorted(c.n for c in chunks if c.article_id == record.id)
        assert numbers == list(range(record.chunks)), record.id


# -- 2. the Chroma server goes away while the API runs ------------------------------


def test_chroma_server_down_is_503_and_recovers(tmp_path, embedder, generator, demo_articles, api_uvicorn):
    port, path = free_port(), tmp_path / "chroma"
    settings = Settings(data_dir=tmp_path / "data", chroma_host="127.0.0.1", chroma_port=port,
                        max_answer_tokens=24, top_k=2)
    with _chroma(path, port):
        services = Services(settings, embedder=embedder, generator=generator)
        services.ingestor.ingest(demo_articles[:3])
        base = api_uvicorn(create_app(settings, services))
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        assert _timed_ask(base)[0].status_code == 200

    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["checks"]["index_reachable"] is False
    response, took = _timed_ask(base)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "index_unavailable"
    assert took < FAIL_FAST_S, f"/v1/ask took {took:.1f} s with the index down"
    search = httpx.post(f"{base}/v1/search", json={"query": QUESTION}, timeout=30)
    assert search.status_code == 503 and search.json()["error"]["code"] == "index_unavailable"

    with _chroma(path, port):
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["articles"] == 3
        response, _ = _timed_ask(base)
        assert response.status_code == 200, response.text
        assert response.json()["passages"]


# -- 3. the model server goes away while the API runs -------------------------------


def test_model_server_down_shows_in_readiness_answers_go_on_and_it_recovers(tmp_path, embedder, demo_articles,
                                                                             api_uvicorn):
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", llm_backend="openai",
                        openai_base_url=f"http://127.0.0.1:{port}/v1", openai_model="gemma-fault",
                        llm_timeout_s=60, llm_retries=1, max_answer_tokens=24, top_k=2)
    services = Services(settings, embedder=embedder)
    services.ingestor.ingest(demo_articles[:3])
    with llama_server(port, "gemma-fault"):
        base = api_uvicorn(create_app(settings, services))
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        response, _ = _timed_ask(base)
        assert response.status_code == 200, response.text
        assert response.json()["model"] == "gemma-fault"
        served = response.json()

    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and ready.json()["checks"]["model_reachable"] is False
    # A model server gives no likelihoods, so answers never wait on it: the reader's answer
    # comes at once, the same as with the server up.
    response, took = _timed_ask(base)
    assert response.status_code == 200, response.text
    assert took < FAIL_FAST_S, f"/v1/ask took {took:.1f} s with the model server down"
    assert (response.json()["answer"], response.json()["citations"]) == (served["answer"], served["citations"])
    # What does need the server fails at once, naming it.
    with pytest.raises(ModelUnavailable, match=f"127.0.0.1:{port}"):
        list(services.generator.stream("The ferry", 4, ["\n"]))

    with llama_server(port, "gemma-fault"):
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        response, _ = _timed_ask(base)
        assert response.status_code == 200, response.text


# -- 4. several workers need a Chroma server -----------------------------------------


def test_serve_workers_refused_in_embedded_mode(tmp_path):
    done = subprocess.run([str(BIN / "qa-service"), "serve", "--workers", "2", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=120,
                          env=_env(QA_DATA_DIR=str(tmp_path)))
    assert done.returncode != 0
    message = done.stdout + done.stderr
    assert "QA_CHROMA_HOST" in message and "--workers 2" in message, message
