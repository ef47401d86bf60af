"""The keyword index with a Chroma server (``index.keyword_log``): workers with their own data
directories (as on two hosts) see each other's writes through the change log within a second, a
restarted worker catches up without a full build, and applying an entry is idempotent."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import keyword_frequencies, store_settings
from fastapi.testclient import TestClient

from index.article import Article
from index.keyword_log import ChangeLog, keyword_copy_path
from qa_service.api.app import create_app
from qa_service.services import Services
from qa_service.settings import Settings

pytestmark = pytest.mark.slow

# The bound for a write to be seen on every worker.
SEEN_WITHIN_S = 1.0


def _story(slug: str, body: str) -> Article:
    return Article.create(title=f"Harbour story {slug}", body=body, url=f"https://news.example.com/{slug}",
                          source="example", published_at="2025-03-02")


STORIES = [
    _story("lighthouse", "The keeper Ottoline Brandt repainted the lighthouse tower in March."),
    _story("ferry", "The Pine Island ferry runs every forty minutes from April, the council said."),
    _story("market", "Fishmongers at the quay market sold 300 crates of herring on Saturday."),
]


@pytest.fixture
def shared(request, tmp_path) -> Settings:
    """Settings of a fresh collection on the test's Chroma server; each worker gets its own data dir."""
    return store_settings("server", request, tmp_path / "unused")


def _worker(shared: Settings, data_dir: Path, embedder, **models) -> Services:
    return Services(shared.model_copy(update={"data_dir": data_dir}), embedder=embedder, **models)


def _copy_path(services: Services) -> Path:
    s = services.settings
    return keyword_copy_path(services.keyword_dir, s.chroma_host, s.chroma_port, s.collection)


def _rows(services: Services) -> set[tuple[str, str]]:
    """Every (chunk id, text) in a worker's copy."""
    with sqlite3.connect(_copy_path(services)) as db:
        return set(db.execute("SELECT c.id, t.text FROM chunks AS c JOIN chunk_text AS t ON t.rowid = c.rowid"))


def _keyword_articles(services: Services, query: str) -> set[str]:
    return {chunk.article_id for chunk, _ in services.keywords.search(query, 10)}


def _within(seconds: float, condition: Callable[[], bool]) -> float:
    """Seconds until ``condition()`` held, polling; fails past ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def _api(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services.settings, services)) as client:
        yield client


def test_a_write_through_one_api_worker_is_searchable_on_the_other_within_a_second(
        shared, tmp_path, embedder, generator):
    a = _worker(shared, tmp_path / "a", embedder, generator=generator)
    b = _worker(shared, tmp_path / "b", embedder, generator=generator)
    a.ingestor.ingest(STORIES[:2])
    with a, b, _api(a) as api_a, _api(b) as api_b:
        assert _keyword_articles(b, "Ottoline") == {STORIES[0].id}, "B's first start built its copy"
        body = {"title": "Cheese fair gold", "url": "https://news.example.com/cheese", "source": "example",
                "body": "The Wexham Cheese Fair gave its gold medal to Marta Quill for a smoked blue cheese."}
        added = api_a.post("/v1/articles", json=body)
        assert added.status_code == 200, added.text
        (cheese,) = added.json()["article_ids"]

        def found_on_b() -> bool:
            passages = api_b.post("/v1/search", json={"query": "Wexham cheese medal Quill", "top_k": 3}).json()
            return cheese in _keyword_articles(b, "Wexham Quill") and \
                passages["passages"][0]["article_id"] == cheese

        _within(SEEN_WITHIN_S, found_on_b)
        assert api_a.delete(f"/v1/articles/{cheese}").status_code == 200

        def gone_on_b() -> bool:
            passages = api_b.post("/v1/search", json={"query": "Wexham cheese medal Quill", "top_k": 3}).json()
            return not _keyword_articles(b, "Wexham Quill") and \
                cheese not in {p["article_id"] for p in passages["passages"]}

        _within(SEEN_WITHIN_S, gone_on_b)
        assert b.store.keywords.builds == 1, "B applied the log, never rebuilt"


def test_a_restarted_worker_catches_up_from_the_log_without_a_full_build(shared, tmp_path, embedder):
    writer = _worker(shared, tmp_path / "writer", embedder)
    with writer:
        writer.ingestor.ingest(STORIES)
        with _worker(shared, tmp_path / "b", embedder) as b:
            b.keywords.warm_up()
            assert b.store.keywords.builds == 1
            assert _keyword_articles(b, "ferry herring") == {STORIES[1].id, STORIES[2].id}

        # While B is down: one article changed, one deleted, one added.
        writer.ingestor.ingest([_story("ferry", "The Pine Island ferry now sails hourly, the council said."),
                                _story("bakery", "A bakery on the quay sold its last loaf after ninety years.")])
        writer.store.delete_article(STORIES[2].id)
        assert not _copy_path(writer).exists(), "a process that only writes builds no copy"

        with _worker(shared, tmp_path / "b", embedder) as restarted, \
                _worker(shared, tmp_path / "fresh", embedder) as fresh:
            restarted.keywords.warm_up()
            fresh.keywords.warm_up()
            assert restarted.store.keywords.builds == 0, "caught up from the log"
            assert restarted.store.keywords.resynced == 3, "only the three articles that changed"
            assert fresh.store.keywords.builds == 1
            assert _rows(restarted) == _rows(fresh)
            assert _keyword_articles(restarted, "ferry hourly herring loaf") == {STORIES[1].id,
                                                                                  _story("bakery", ".").id}
            for query in ("ferry", "council quay", "Ottoline lighthouse"):
                assert restarted.keywords.search(query, 5) == fresh.keywords.search(query, 5)


def test_applying_an_entry_twice_or_after_its_article_is_deleted_leaves_the_right_rows(shared, tmp_path, embedder):
    with _worker(shared, tmp_path / "writer", embedder) as writer, \
            _worker(shared, tmp_path / "b", embedder) as b:
        writer.ingestor.ingest(STORIES)
        b.keywords.warm_up()
        log = ChangeLog(writer.store.client, shared.collection)
        chunks = {(c.id, c.text) for c in writer.store.article_chunks([STORIES[0].id])}

        log.append([STORIES[0].id])  # the same change again
        b.keywords.warm_up()
        assert {row for row in _rows(b) if row[0].startswith(STORIES[0].id)} == chunks

        writer.store.delete_article(STORIES[0].id)
        log.append([STORIES[0].id])  # a write's entry read after the article's delete
        b.keywords.warm_up()
        assert not {row for row in _rows(b) if row[0].startswith(STORIES[0].id)}

        with sqlite3.connect(_copy_path(b)) as db:  # every entry in the window read again
            db.execute("DELETE FROM log_applied")
        rows, resynced = _rows(b), b.store.keywords.resynced
        b.keywords.warm_up()
        assert _rows(b) == rows
        assert b.store.keywords.resynced == resynced + len(STORIES), "the three articles the entries name"
        assert b.store.keywords.builds == 1
        stored, fresh = keyword_frequencies(_copy_path(b))
        assert stored == fresh and stored, "re-syncs kept the copy's document frequencies"


def test_a_copy_older_than_the_log_or_of_another_collection_is_built_again(shared, tmp_path, embedder):
    with _worker(shared, tmp_path / "writer", embedder) as writer:
        writer.ingestor.ingest(STORIES[:1])
        with _worker(shared, tmp_path / "b", embedder) as b:
            b.keywords.warm_up()
        with sqlite3.connect(_copy_path(b)) as db:
            db.execute("UPDATE log_read SET read_ms = read_ms - 8 * 24 * 3600 * 1000")
        with _worker(shared, tmp_path / "b", embedder) as b:
            b.keywords.warm_up()
            assert b.store.keywords.builds == 1, "down longer than the log keeps entries"
        with sqlite3.connect(_copy_path(b)) as db:
            db.execute("UPDATE log_read SET collection = 'dropped-and-created-again'")
        with _worker(shared, tmp_path / "b", embedder) as b:
            b.keywords.warm_up()
            assert b.store.keywords.builds == 1
            assert _keyword_articles(b, "Ottoline") == {STORIES[0].id}
