"""The keyword index (SQLite FTS5): in-place writes, filters inside the search, and the backfill of
an index written before it. With a Chroma server: tests/test_keyword_server.py."""
from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from conftest import store_settings

from index.article import Article
from index.keyword import FtsKeywords, KeywordVersionError, match_expression
from index.store import StoredChunk
from qa_service.models import Filters
from qa_service.services import Services


def _chunk(article_id: str, text: str, source: str = "wire", published_at: str | None = "2025-03-02",
           n: int = 0) -> StoredChunk:
    article = Article.create(title=f"Story {article_id}", body=text, source=source, published_at=published_at)
    return StoredChunk(article_id=article_id, n=n, text=text, start=0, end=len(text), title=article.title,
                       url=None, source=source, published_at=published_at, published_ts=article.timestamp)


CHUNKS = [
    _chunk("a", "The lighthouse keeper Ottoline Brandt repainted the tower.", "wire", "2025-03-02"),
    _chunk("b", "Ottoline Brandt retired after forty winters at the lighthouse.", "gazette", "2025-06-10"),
    _chunk("c", "A ferry to Pine Island carried Ottoline's old lamp.", "gazette", None),
    _chunk("d", "The harbour council met on Tuesday about the ferry timetable.", "wire", "2025-01-05"),
]


@pytest.fixture
def index(tmp_path):
    keywords = FtsKeywords(tmp_path / "k.sqlite3", StoredChunk, lambda: CHUNKS)
    yield keywords
    keywords.close()


def _ids(hits) -> list[str]:
    return [chunk.article_id for chunk, _ in hits]


def test_search_ranks_by_bm25_and_returns_whole_chunks(index):
    hits = index.search("Who repainted the lighthouse tower?", 4)
    assert _ids(hits)[0] == "a"
    assert hits[0][0] == CHUNKS[0], "a hit is the stored chunk, every field"
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert index.search("the of and", 5) == [], "stop words alone match nothing"
    assert index.search("", 5) == []


def test_query_syntax_is_read_as_words(index):
    for query in ('Ottoline" OR NEAR(', "lighthouse AND -tower*", "col:umn ^ { }", "'\"\"'"):
        index.search(query, 5)  # no FTS5 syntax error
    assert match_expression('Ottoline" NEAR(') == '"ottoline" OR "near"'


def test_filters_are_conditions_of_the_search(index):
    """The filtered search returns n hits when n pass the filter, however many better ones fail it."""
    def search(filters: Filters, as_of: date | None = None) -> list[str]:
        return sorted(_ids(index.search("Ottoline lighthouse ferry", 1 if filters.article_ids else 5,
                                        filters.keyword_filter(as_of))))

    assert search(Filters(sources=["gazette"])) == ["b", "c"]
    assert search(Filters(article_ids=["c"])) == ["c"]
    assert search(Filters(published_after=date(2025, 3, 1))) == ["a", "b"], "undated chunks are outside a window"
    assert search(Filters(published_before=date(2025, 3, 2))) == ["a", "d"]
    assert search(Filters(), as_of=date(2025, 3, 1)) == ["d"]
    assert search(Filters(sources=["wire"], published_after=date(2025, 2, 1))) == ["a"]


def test_writes_change_only_their_articles_and_every_connection_sees_them(tmp_path, index):
    other = FtsKeywords(tmp_path / "k.sqlite3", StoredChunk, lambda: pytest.fail("filled twice"))
    index.forget(["a"])
    assert "a" not in _ids(other.search("repainted tower", 5)), "a second process sees the delete"
    index.add([_chunk("a", "The keeper Wilhelmina Brandt repainted the tower.", n=0),
               _chunk("a", "Wilhelmina lit the lamp at dusk.", n=1)])
    assert _ids(other.search("Wilhelmina", 5)) == ["a", "a"]
    assert _ids(other.search("Ottoline", 5)) == ["b", "c"]
    assert set(other.chunks(["a:1", "b:0", "gone:0"])) == {"a:1", "b:0"}
    other.close()


def test_an_unfilled_index_is_filled_once_and_a_cut_short_fill_is_redone(tmp_path):
    path = tmp_path / "k.sqlite3"

    def failing():
        yield CHUNKS[0]
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError):
        FtsKeywords(path, StoredChunk, failing)
    keywords = FtsKeywords(path, StoredChunk, lambda: CHUNKS)
    assert sorted(_ids(keywords.search("Ottoline", 5))) == ["a", "b", "c"], "no row of the failed fill is left"
    keywords.close()


def test_a_fill_that_reads_a_chunk_twice_keeps_it_once(tmp_path):
    """Paging through a store while an article is rewritten can return its chunks again."""
    keywords = FtsKeywords(tmp_path / "k.sqlite3", StoredChunk, lambda: [*CHUNKS, CHUNKS[0]])
    assert _ids(keywords.search("repainted", 5)) == ["a"]
    assert len(keywords.chunks([c.id for c in CHUNKS])) == len(CHUNKS)
    keywords.close()


def test_a_newer_index_is_refused_by_name(tmp_path):
    path = tmp_path / "k.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(KeywordVersionError, match="schema version 99"):
        FtsKeywords(path, StoredChunk, lambda: CHUNKS)


# -- over a real store -------------------------------------------------------------------------


def _story(title: str, body: str) -> Article:
    return Article.create(title=title, body=body, url=f"https://news.example.com/{title.split()[0]}",
                          source="example", published_at="2025-03-02")


def test_an_index_from_before_the_keyword_file_is_backfilled_on_open(tmp_path, embedder):
    """An index written before this version has Chroma and the catalog but no keyword file."""
    settings = store_settings("embedded", None, tmp_path / "index")
    stories = [_story("Lighthouse repainted", "The keeper Ottoline Brandt repainted the tower in March."),
               _story("Ferry timetable", "The Pine Island ferry runs every forty minutes from April.")]
    with Services(settings, embedder=embedder) as services:
        services.ingestor.ingest(stories)
    keyword_file = settings.chroma_path / f"{settings.collection}.keywords.sqlite3"
    keyword_file.unlink()
    for suffix in ("-wal", "-shm"):
        keyword_file.with_name(keyword_file.name + suffix).unlink(missing_ok=True)

    for _ in range(2):  # the second open finds it filled and adds nothing
        with Services(settings, embedder=embedder) as services:
            assert _ids(services.keywords.search("Ottoline", 5)) == [stories[0].id]
            found = services.retriever.retrieve("Who repainted the lighthouse tower?", 2)
            assert found.passages[0].article_id == stories[0].id
    with sqlite3.connect(keyword_file) as db:
        assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 2

