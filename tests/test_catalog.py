"""The article catalog beside Chroma (a SQLite file embedded, a collection on a Chroma server):
typed records, the write generation across instances, the schema version, and the migration
of the first layout (records in ``NAME__articles`` with placeholder vectors)."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pytest

from index.article import Article
from index.catalog import SCHEMA_VERSION, ArticleRecord, CatalogVersionError, SqliteCatalog, open_catalog
from index.store import ChromaStore


def _article(n: int, body: str | None = None) -> Article:
    return Article.create(title=f"Ferry line {n} opens", url=f"https://news.example.com/ferry/{n}",
                          body=body or f"The ferry line {n} opened on Friday. Mayor Ana Ruiz rode the first crossing.",
                          source="example", published_at="2025-03-02", authors=["Ana Ruiz"],
                          captions=["The ferry at the pier."])


def _reopen(services) -> ChromaStore:
    store = services.store
    return ChromaStore(store.client, services.settings.collection, store.model_id, store.dim)


def test_records_are_typed_and_bodies_kept_apart(fresh_services):
    article = _article(1)
    fresh_services.ingestor.ingest([article])
    store = fresh_services.store
    record = store.article_record(article.id)
    assert record == ArticleRecord(id=article.id, title=article.title, url=article.url, source="example",
                                   published_at="2025-03-02", authors=("Ana Ruiz",),
                                   captions=("The ferry at the pier.",), content_hash=article.content_hash,
                                   chunks=1)
    assert store.list_articles() == [record] and store.article_records([article.id, "nope"]) == {article.id: record}
    assert store.article_with_body(article.id) == (record, article.body)
    assert store.article_with_body("nope") is None


def test_generation_moves_on_every_write_and_other_instances_see_it(fresh_services):
    store = fresh_services.store
    other = open_catalog(store.client, fresh_services.settings.collection)
    first = other.generation()
    fresh_services.ingestor.ingest([_article(1), _article(2)])
    after_write = other.generation()
    assert after_write != first and other.count() == 2

    fresh_services.ingestor.ingest([_article(1)])  # unchanged: nothing written
    assert other.generation() == after_write

    assert store.delete_article(_article(1).id)
    after_delete = other.generation()
    assert after_delete != after_write and other.count() == 1
    assert not store.delete_article(_article(1).id)
    assert other.generation() == after_delete == _reopen(fresh_services).generation()


def test_no_placeholder_vectors_and_no_pseudo_records(fresh_services):
    store, name = fresh_services.store, fresh_services.settings.collection
    fresh_services.ingestor.ingest([_article(1), _article(2)])
    # Only this index's collections: a Chroma server is shared with other tests' indexes.
    ours = [c for c in store.client.list_collections() if c.name == name or c.name.startswith(f"{name}__")]
    assert f"{name}__articles" not in {c.name for c in ours} and len(ours) >= 2
    for collection in ours:
        if collection.name == f"{name}__changes":  # the keyword index's change log: entries, not articles
            continue
        got = collection.get(include=["embeddings"])
        assert len(got["ids"]) > 0 and {len(v) for v in got["embeddings"]} == {store.dim}, collection.name
    assert store.count_articles() == len(store.list_articles()) == 2


def test_a_newer_schema_version_is_a_clear_error(fresh_services, tmp_path):
    store, name = fresh_services.store, fresh_services.settings.collection
    if isinstance(store.catalog, SqliteCatalog):
        with sqlite3.connect(store.catalog.path) as db:
            db.execute("PRAGMA user_version = 99")
    else:
        store.catalog.records.modify(metadata={"catalog_schema": 99, "generation": "x"})
    with pytest.raises(CatalogVersionError) as error:
        open_catalog(store.client, name)
    assert "schema version 99" in str(error.value) and "upgrade qa-service" in str(error.value)


def _write_first_layout(store: ChromaStore, name: str, records: list[ArticleRecord], bodies: list[str]) -> None:
    """Records as the first layout kept them: a collection of one-dimensional placeholder vectors,
    lists as JSON, the chunk count as n_chunks, and a generation pseudo-record."""
    old = store.client.get_or_create_collection(f"{name}__articles")
    old.upsert(
        ids=[r.id for r in records] + ["__generation__"], embeddings=[[1.0]] * (len(records) + 1),
        documents=bodies + [""],
        metadatas=[{"kind": "article", "title": r.title, "url": r.url, "source": r.source,
                    "published_at": r.published_at, "authors": json.dumps(r.authors),
                    "captions": json.dumps(r.captions), "content_hash": r.content_hash, "n_chunks": r.chunks}
                   for r in records] + [{"kind": "generation", "value": "old"}],
    )


def test_the_first_layout_is_migrated_on_open(fresh_services):
    store, name = fresh_services.store, fresh_services.settings.collection
    long_body = " ".join(f"Sentence {i} says the ferry carried {i * 10} passengers to Pine Island." for i in range(40))
    fresh_services.ingestor.ingest([_article(1), _article(2, long_body)])
    records = store.list_articles()
    bodies = [store.article_with_body(r.id)[1] for r in records]
    for record in records:  # the records leave the catalog and go back to the old collection
        store.catalog.delete(record.id)
    _write_first_layout(store, name, records, bodies)

    reopened = _reopen(fresh_services)
    assert reopened.list_articles() == records
    assert [reopened.article_with_body(r.id)[1] for r in records] == bodies
    assert f"{name}__articles" not in {c.name for c in store.client.list_collections()}
    assert fresh_services.ingestor.ingest([_article(1), _article(2, long_body)]).unchanged == 2
    if not isinstance(reopened.catalog, SqliteCatalog):
        # On a Chroma server a record's vector is its article's: the normalised mean of its chunk vectors.
        long = next(r for r in records if r.chunks > 1)
        chunks = store.chunks.get(where={"article_id": long.id}, include=["embeddings"])["embeddings"]
        mean = np.mean(chunks, axis=0)
        got = reopened.catalog.records.get(ids=[long.id], include=["embeddings"])["embeddings"][0]
        assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-5)


def _first_rule_id(url: str) -> str:
    """An article's id before schema version 2: the URL without its query."""
    parts = urlsplit(url)
    key = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "/", "", ""))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _as_version_1(store: ChromaStore) -> None:
    """The catalog as schema version 1 kept it: no content hash to look up, the version 1."""
    if isinstance(store.catalog, SqliteCatalog):
        with sqlite3.connect(store.catalog.path) as db:
            db.execute("DROP INDEX articles_by_hash")
            db.execute("ALTER TABLE articles DROP COLUMN content_hash")
            db.execute("PRAGMA user_version = 1")
        return
    records = store.catalog.records
    got = records.get(include=["metadatas", "documents", "embeddings"])
    records.delete(ids=got["ids"])
    records.add(ids=got["ids"], documents=got["documents"], embeddings=got["embeddings"],
                metadatas=[{"record": m["record"]} for m in got["metadatas"]])
    records.modify(metadata={"catalog_schema": 1, "generation": "v1"})


def _query_story(n: int, body: str | None = None) -> Article:
    return Article.create(title=f"Council vote {n}", url=f"https://news.example.com/story?id={n}",
                          body=body or f"The council voted {n} times on the budget. The mayor spoke {n} times.",
                          source="example", published_at="2025-03-02")


def test_two_stories_told_apart_by_their_query_are_two_articles(fresh_services):
    report = fresh_services.ingestor.ingest([_query_story(1), _query_story(2)])
    assert (report.added, report.updated) == (2, 0)
    tracked = Article.create(title="Council vote 1", url="https://news.example.com/story?id=1&utm_source=feed",
                             body=_query_story(1).body, source="example", published_at="2025-03-02")
    again = fresh_services.ingestor.ingest([tracked])
    assert (again.added, again.updated) == (0, 1), "a tracking parameter names the same story (its link changed)"
    assert sorted(r.id for r in fresh_services.store.list_articles()) == sorted([tracked.id, _query_story(2).id])


def test_an_index_written_before_query_ids_opens_lists_and_updates(fresh_services):
    """An index of schema version 1 (ids from the URL without its query), written here with that
    rule, is moved to this version's ids when opened: chunks, sentences and records alike."""
    long_body = " ".join(f"Sentence {i} says the council met {i} times about the harbour." for i in range(40))
    old = [replace(_query_story(1, long_body), id=_first_rule_id(_query_story(1).url)), _article(3)]
    fresh_services.ingestor.ingest(old)
    store = fresh_services.store
    _as_version_1(store)
    assert {r.id for r in store.list_articles()} == {old[0].id, old[1].id}

    reopened = _reopen(fresh_services)
    story = _query_story(1, long_body)
    assert story.id != old[0].id and reopened.catalog.version == SCHEMA_VERSION
    listed = reopened.list_articles()
    assert [r.id for r in listed] == [old[1].id, story.id]  # an unmoved one keeps its place
    assert reopened.article_with_body(story.id)[1] == long_body
    chunk_ids = reopened.chunks.get(where={"article_id": story.id})["ids"]
    assert sorted(chunk_ids) == sorted(f"{story.id}:{n}" for n in range(listed[1].chunks)) and len(chunk_ids) > 1
    assert not reopened.chunks.get(where={"article_id": old[0].id})["ids"]
    sentences = reopened.sentences.get(where={"article_id": story.id})["ids"]
    assert sentences and all(i.startswith(f"{story.id}:") for i in sentences)
    assert not reopened.sentences.get(where={"article_id": old[0].id})["ids"]

    services = fresh_services.variant()  # a new container over the migrated index
    again = services.ingestor.ingest([story, _article(3)])
    assert (again.unchanged, again.added, again.updated) == (2, 0, 0)
    edited = services.ingestor.ingest([_query_story(1, long_body + " The vote passed."), _query_story(2)])
    assert (edited.updated, edited.added) == (1, 1)
    assert len(services.store.list_articles()) == 3
