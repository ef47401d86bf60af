"""Shared fixtures: the real embedding model, the real llama.cpp model, real Chroma.

Models are loaded once per test session; each index lives in a temporary
directory so tests never touch the user's data.
"""
from __future__ import annotations

import os
import sqlite3

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from processes import chroma_server as running_chroma  # noqa: E402
from processes import free_port  # noqa: E402

from index.demo import demo_corpus_path  # noqa: E402
from index.loaders import load_paths  # noqa: E402
from qa_service.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def embedder():
    from qa_service.services import embedder_for

    return embedder_for(Settings())


@pytest.fixture(scope="session")
def generator():
    from qa_service.generation import LlamaCppGenerator

    return LlamaCppGenerator(Settings().generation)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on 127.0.0.1, stopped at the end of the session."""
    port = free_port()
    with running_chroma(tmp_path_factory.mktemp("chroma-server"), port) as process:
        yield {"host": "127.0.0.1", "port": port, "process": process}


def store_settings(mode: str, request, tmp_path: Path, **overrides) -> Settings:
    """Settings for an embedded index in ``tmp_path`` or a fresh collection on the Chroma server."""
    if mode == "server":
        server = request.getfixturevalue("chroma_server")
        return Settings(data_dir=tmp_path, chroma_host=server["host"], chroma_port=server["port"],
                        collection=f"t{uuid.uuid4().hex[:12]}", **overrides)
    return Settings(data_dir=tmp_path, **overrides)



def keyword_frequencies(path: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A keyword index file's stored document frequencies (``chunk_terms``) and the ones FTS5's
    vocabulary gives, read fresh from every row: equal whenever the index is right."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, chunk_text, row)")
        return (db.execute("SELECT term, doc FROM chunk_terms ORDER BY term").fetchall(),
                db.execute("SELECT term, doc FROM temp.vocab ORDER BY term").fetchall())


@pytest.fixture(scope="session")
def demo_articles():
    loaded = load_paths([demo_corpus_path()])
    assert not loaded.failures, loaded.failures
    return loaded.articles


@pytest.fixture(scope="session", params=["embedded", "server"])
def demo_services(request, tmp_path_factory, embedder, generator, demo_articles):
    """Services over a Chroma index (embedded, then server) holding the demo corpus (read-only for tests)."""
    from qa_service.services import Services

    settings = store_settings(request.param, request, tmp_path_factory.mktemp("demo-index"))
    services = Services(settings, embedder=embedder, generator=generator)
    services.ingestor.ingest(demo_articles)
    return services


@pytest.fixture(params=["embedded", "server"])
def fresh_services(request, tmp_path, embedder):
    """Services over an empty index of its own, embedded or on the Chroma server (no language model)."""
    from qa_service.services import Services

    return Services(store_settings(request.param, request, tmp_path / "index"), embedder=embedder)


# -- HTTP API fixtures (tests/test_api.py, tests/test_browser.py) ------------


@pytest.fixture(scope="session", params=["embedded", "server"])
def api_services(request, tmp_path_factory, embedder, generator, demo_articles):
    """Services over a demo-corpus index of the API tests' own (embedded, then on the
    Chroma server): they may add and delete articles (each test removes what it adds),
    so it is not ``demo_services``."""
    from qa_service.services import Services

    settings = store_settings(request.param, request, tmp_path_factory.mktemp("api-index"))
    services = Services(settings, embedder=embedder, generator=generator)
    services.ingestor.ingest(demo_articles)
    return services


@pytest.fixture(scope="module")
def api_uvicorn():
    """Starts apps under a real uvicorn on 127.0.0.1 (a free port each); ``start(app)``
    returns the base URL. Servers stop when the module's tests are done."""
    import socket
    import threading
    import time

    import uvicorn

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 120  # start-up warms the models
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(30)


# Fixtures that load a model or start a server: a test using one is slow, marked or not,
# so `make test-fast` (-m "not slow") never waits for MiniLM, Gemma or a Chroma server.
_SLOW_FIXTURES = frozenset({"embedder", "generator", "chroma_server", "demo_services", "fresh_services",
                            "api_services", "api_uvicorn"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
