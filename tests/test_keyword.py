"""The keyword index (SQLite FTS5): in-place writes, filters inside the search, and the backfill of
an index written before it. With a Chroma server: tests/test_keyword_server.py."""
from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import date

import pytest
from conftest import keyword_frequencies, store_settings

from index.article import Article
from index.keyword import (
    SCHEMA_VERSION,
    FtsKeywords,
    KeywordFilter,
    KeywordVersionError,
    _word_counts,
    match_expression,
    query_words,
)
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
    assert match_expression(query_words('Ottoline" NEAR(')) == '"ottoline" OR "near"'


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


# -- document frequencies ----------------------------------------------------------------------


def test_document_frequencies_follow_every_write_and_equal_fts5s_own(tmp_path, index):
    """``chunk_terms`` holds what a walk of FTS5's vocabulary gives, with FTS5's words (folded: "cafe"),
    after adds through either connection, forgets (a word in no row any more leaves it) and clearing."""
    path = tmp_path / "k.sqlite3"
    stored, fresh = keyword_frequencies(path)
    assert stored == fresh and dict(stored)["ottoline"] == 3
    other = FtsKeywords(path, StoredChunk, lambda: pytest.fail("filled twice"))
    other.add([_chunk("e", "Café CAFÉ, Ottoline's “cafe”.")])
    index.add([_chunk("f", "The café by the ferry.")])
    stored, fresh = keyword_frequencies(path)
    assert stored == fresh and dict(stored)["cafe"] == 2 and dict(stored)["ottoline"] == 4
    index.forget(["c", "e", "gone"])
    stored, fresh = keyword_frequencies(path)
    assert stored == fresh and "pine" not in dict(stored) and dict(stored)["cafe"] == 1
    with other.transaction() as db:
        other.clear_rows(db)
    assert keyword_frequencies(path) == ([], [])
    other.close()


_UPGRADE_QUERY = "Which harbour cafe did Ottoline visit?"


def _reopened_as_version(path, version: int, *changes: str) -> tuple[FtsKeywords, list[tuple[str, float]]]:
    """An index written now, then taken back to what ``version`` wrote (``changes``), reopened (so
    upgraded); with the search results it gave before."""
    current = FtsKeywords(path, StoredChunk, lambda: [*CHUNKS, *_harbour_chunks(0, 40)], match_rows=5)
    before = _scored(current.search(_UPGRADE_QUERY, 5))
    current.close()
    with sqlite3.connect(path) as db:
        for change in [*changes, f"PRAGMA user_version = {version}"]:
            db.execute(change)
    return FtsKeywords(path, StoredChunk, lambda: pytest.fail("its rows are kept"), match_rows=5), before


def test_an_index_of_version_1_gets_its_frequencies_when_opened_and_ranks_as_before(tmp_path):
    path = tmp_path / "k.sqlite3"
    upgraded, before = _reopened_as_version(path, 1, "DROP TABLE chunk_terms")  # version 1: no chunk_terms
    assert _scored(upgraded.search(_UPGRADE_QUERY, 5)) == before
    stored, fresh = keyword_frequencies(path)
    assert stored == fresh and stored
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    upgraded.close()


def test_an_index_of_version_2_gets_the_sentence_spans_column_empty_and_stores_them_for_new_rows(tmp_path):
    upgraded, before = _reopened_as_version(tmp_path / "k.sqlite3", 2, "ALTER TABLE chunks DROP COLUMN sentence_spans")
    assert _scored(upgraded.search(_UPGRADE_QUERY, 5)) == before
    assert all(c.sentence_spans is None for c, _ in upgraded.search(_UPGRADE_QUERY, 5))
    new = replace(_harbour_chunks(40, 41)[0], article_id="later", id="later:0", sentence_spans="0-12")
    upgraded.add([new])
    assert upgraded.chunks(["later:0"])["later:0"].sentence_spans == "0-12"
    upgraded.close()


def test_common_words_are_counted_as_fts5_tokenizes_the_text():
    """The re-scoring's word counts are those of FTS5's unicode61 tokens: case and diacritics folded,
    punctuation, hyphens and underscores between tokens, a word inside a longer one not counted."""
    texts = ["News: the new newspaper, New-York's NEW news; renew.", "Café cafe_bar CAFÉS “cafe” café.",
             "2025 20250 x2025 ½2025 over-2025", ""]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'unicode61')")
    db.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", list(enumerate(texts)))
    db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, t, instance)")
    words = [term for term, in db.execute("SELECT DISTINCT term FROM temp.v")]
    for doc, text in enumerate(texts):
        expected = dict(db.execute("SELECT term, count(*) FROM temp.v WHERE doc = ? GROUP BY term", (doc,)))
        assert _word_counts(text, words) == expected, text
    db.close()


# -- common words scored, not matched ----------------------------------------------------------

# Fillers: "harbour" and "cafe" in a third of them each, so that each word's IDF counts.
_FILLER_TEXTS = [
    "Harbour cafe: the harbour cafe opened.", "The council met on Tuesday.", "A new timetable for the bus.",
    "The harbour ferry was late again.", "Rain over the cafe.", "Schools close early on Friday.",
]


def _harbour_chunks(start: int, count: int) -> list[StoredChunk]:
    return [_chunk(f"h{i}", _FILLER_TEXTS[i % len(_FILLER_TEXTS)] + f" Item {i}.", ("wire", "gazette")[i % 2])
            for i in range(start, start + count)]


def _scored(hits) -> list[tuple[str, float]]:
    return [(chunk.id, round(score, 9)) for chunk, score in hits]


def test_common_words_rescore_the_rare_words_hits_as_bm25_over_every_word(tmp_path):
    """With a budget of 5 matched rows, "harbour" and "cafe" (in a third of the rows) are not matched:
    "ottoline" finds the candidates, and each one's score is still bm25() over every word, the common
    words counted as unicode61 cuts and folds them (case, diacritics, an underscore between two tokens,
    curly quotes; not "cafés")."""
    rare = [_chunk("o1", "Ottoline sailed from the harbour café."),
            _chunk("o2", "Ottoline wrote a long letter about the ferries, the timetable, the council and "
                         "the schools of the island in winter."),
            _chunk("o3", "Harbour, “HARBOUR”, CAFÉ: Ottoline again at the cafe_bar, not the cafés.")]
    path = tmp_path / "k.sqlite3"
    every = FtsKeywords(path, StoredChunk, lambda: [*rare, *_harbour_chunks(0, 40)], match_rows=None)
    pruned = FtsKeywords(path, StoredChunk, lambda: pytest.fail("filled twice"), match_rows=5)
    query = "Which harbour cafe did Ottoline visit?"
    holding_ottoline = [hit for hit in _scored(every.search(query, 50)) if hit[0].startswith("o")][:3]
    assert _scored(pruned.search(query, 3)) == holding_ottoline
    assert _scored(every.search(query, 3)) != holding_ottoline, "a filler holding only common words is not a candidate"
    every.add(_harbour_chunks(40, 200))  # the pruned connection's frequencies follow the other's write
    holding_ottoline = [hit for hit in _scored(every.search(query, 300)) if hit[0].startswith("o")][:3]
    assert _scored(pruned.search(query, 3)) == holding_ottoline
    every.close()
    pruned.close()


def test_too_few_rare_hits_in_the_filter_match_every_word(tmp_path):
    """A filter no rare-word row passes still finds the chunks the common words match."""
    chunks = [_chunk("o1", "Ottoline left the harbour.", "wire"), *_harbour_chunks(0, 40)]
    keywords = FtsKeywords(tmp_path / "k.sqlite3", StoredChunk, lambda: chunks, match_rows=5)
    every = FtsKeywords(tmp_path / "k.sqlite3", StoredChunk, lambda: chunks, match_rows=None)
    where = KeywordFilter(sources=("gazette",))
    hits = keywords.search("Ottoline harbour", 4, where)
    assert len(hits) == 4 and {chunk.source for chunk, _ in hits} == {"gazette"}
    assert _scored(hits) == _scored(every.search("Ottoline harbour", 4, where))
    keywords.close()
    every.close()


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

