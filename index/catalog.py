"""The article catalog: one typed record (and body) per stored article, and the write generation.

Vectors live in Chroma (``index.store``); article records live here, behind
``ArticleCatalog``, in one of two homes chosen by the Chroma client
(``open_catalog``):

- Embedded Chroma: ``SqliteCatalog``, a SQLite file beside Chroma's own
  (``NAME.catalog.sqlite3`` in its directory), so an index is still one
  directory to copy. Writes are transactions; the schema version is the
  file's ``PRAGMA user_version`` and the generation a one-row table, read
  with one local query.
- A Chroma server (``QA_CHROMA_HOST``): ``ChromaCatalog``, the collection
  ``NAME__catalog`` on that server. The server is what every API worker, on
  any host, and every local CLI command pointed at it already share; a file
  on one API host would leave the others (and a CLI run elsewhere) with
  chunks but no records, and a re-ingest there would orphan old chunks.
  Postgres or the like would be a second server to run and keep in step for
  a few thousand small rows. Chroma wants a vector per record, so each
  record carries the article's own embedding (the normalised mean of its
  chunk vectors), not a placeholder. The schema version and the generation
  are the collection's metadata, read with one request.

Both keep the same serialisation: a record is the JSON of ``ArticleRecord``'s
fields, so the field list is written once, in the dataclass; a change to it
bumps ``SCHEMA_VERSION``. Opening a catalog written by a newer version is a
``CatalogVersionError``; an older one is upgraded on open (its layout here,
its article ids by the store, which then calls ``mark_current``).

Versions: 1, ids hashed a URL without its query; 2, ids keep the query
(``index.article.canonical_url``) and each record's ``content_hash`` is
looked up (``holders``) to refuse an exact duplicate under another id.

The generation is an opaque token that changes with every put and delete,
from any process, for a worker to tell that the index changed. It changes
after the records it covers are written.
"""
from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.article import Article, ArticleFields

SCHEMA_VERSION = 2
# Records of a collection are read a page at a time when upgrading it.
_PAGE = 1000


class IncompatibleIndex(RuntimeError):
    """The index cannot be used as configured; the message says why and what to do."""


class CatalogVersionError(IncompatibleIndex):
    """The catalog was written by a newer qa-service (an unknown schema version)."""


@dataclass(frozen=True, kw_only=True)
class ArticleRecord(ArticleFields):
    """What the catalog keeps of an article besides its body: its fields and its chunk count."""

    chunks: int

    @classmethod
    def of(cls, article: Article, chunks: int) -> ArticleRecord:
        return cls(chunks=chunks, **{f.name: getattr(article, f.name) for f in fields(ArticleFields)})

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ArticleRecord:
        # JSON is untyped; the record's fields type each value, lists as tuples
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}
        return cls(**values)


@dataclass(frozen=True)
class CatalogEntry:
    """One article to store: its record, its body and its embedding (the mean of its chunk vectors)."""

    record: ArticleRecord
    body: str
    vector: np.ndarray


class ArticleCatalog(Protocol):
    version: int
    """The schema version the catalog was written with (``SCHEMA_VERSION`` once current)."""

    def generation(self) -> str: ...

    def count(self) -> int: ...

    def list(self, offset: int, limit: int) -> list[ArticleRecord]:
        """Records in the order they were first stored."""

    def get_many(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        """Records of those ids that exist, by id."""

    def with_body(self, article_id: str) -> tuple[ArticleRecord, str] | None: ...

    def holders(self, hashes: Sequence[str]) -> dict[str, str]:
        """For each of these content hashes that is stored, the id of an article holding it."""

    def put(self, entries: Sequence[CatalogEntry]) -> None:
        """Insert or replace, then change the generation."""

    def delete(self, article_id: str) -> bool:
        """False when it was not there (the generation then stays)."""

    def mark_current(self) -> None:
        """Record ``SCHEMA_VERSION``: the store has finished upgrading what the catalog cannot."""

    def close(self) -> None: ...


def open_catalog(client, name: str) -> ArticleCatalog:
    """The catalog that lives where ``client``'s vectors live (see the module docstring)."""
    settings = client.get_settings()
    if settings.is_persistent:
        return SqliteCatalog(Path(settings.persist_directory) / f"{name}.catalog.sqlite3")
    return ChromaCatalog(client, f"{name}__catalog")


def _newer(where: str, version: int) -> CatalogVersionError:
    return CatalogVersionError(
        f"the article catalog {where} has schema version {version}, but this qa-service reads up to "
        f"version {SCHEMA_VERSION}: upgrade qa-service, or use another data directory / collection"
    )


class SqliteCatalog:
    """Records in a SQLite file; one connection, serialised by a lock (each call is short)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if self.version > SCHEMA_VERSION:
            raise _newer(str(path), self.version)
        if self.version == 0:
            self._create()
        elif self.version == 1:
            self._add_hash_column()

    def _create(self) -> None:
        # WAL: a reader in another process does not wait for a writer.
        self._db.execute("PRAGMA journal_mode=WAL")
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS articles (id TEXT PRIMARY KEY, record TEXT NOT NULL, "
                       "body TEXT NOT NULL, content_hash TEXT NOT NULL DEFAULT '')")
            db.execute("CREATE INDEX IF NOT EXISTS articles_by_hash ON articles (content_hash)")
            db.execute("CREATE TABLE IF NOT EXISTS generation (value TEXT NOT NULL)")
            if db.execute("SELECT count(*) FROM generation").fetchone()[0] == 0:
                db.execute("INSERT INTO generation VALUES (?)", (uuid.uuid4().hex,))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.version = SCHEMA_VERSION

    def _add_hash_column(self) -> None:
        """Version 1 to 2, the table's part: a ``content_hash`` column, filled from the records."""
        with self._transaction() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(articles)")}
            if "content_hash" not in columns:  # an upgrade cut short already added it
                db.execute("ALTER TABLE articles ADD COLUMN content_hash TEXT NOT NULL DEFAULT ''")
                db.execute("UPDATE articles SET content_hash = json_extract(record, '$.content_hash')")
            db.execute("CREATE INDEX IF NOT EXISTS articles_by_hash ON articles (content_hash)")

    def mark_current(self) -> None:
        with self._lock:
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.version = SCHEMA_VERSION

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def generation(self) -> str:
        return self._query("SELECT value FROM generation")[0][0]

    def count(self) -> int:
        return self._query("SELECT count(*) FROM articles")[0][0]

    def list(self, offset: int, limit: int) -> list[ArticleRecord]:
        rows = self._query("SELECT record FROM articles ORDER BY rowid LIMIT ? OFFSET ?", (limit, offset))
        return [ArticleRecord.from_json(r) for r, in rows]

    def get_many(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        # One statement with a JSON array of ids: no limit on the number of parameters.
        rows = self._query("SELECT id, record FROM articles WHERE id IN (SELECT value FROM json_each(?))",
                           (json.dumps(list(ids)),))
        return {i: ArticleRecord.from_json(r) for i, r in rows}

    def with_body(self, article_id: str) -> tuple[ArticleRecord, str] | None:
        rows = self._query("SELECT record, body FROM articles WHERE id = ?", (article_id,))
        return (ArticleRecord.from_json(rows[0][0]), rows[0][1]) if rows else None

    def holders(self, hashes: Sequence[str]) -> dict[str, str]:
        rows = self._query("SELECT content_hash, id FROM articles WHERE content_hash IN "
                           "(SELECT value FROM json_each(?)) ORDER BY rowid", (json.dumps(list(hashes)),))
        found: dict[str, str] = {}
        for content_hash, article_id in rows:
            found.setdefault(content_hash, article_id)  # the first stored
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, entries: Sequence[CatalogEntry]) -> None:
        with self._transaction() as db:
            # An update keeps the row (and so the article's place in the stored order).
            db.executemany("INSERT INTO articles (id, record, body, content_hash) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (id) DO UPDATE SET record = excluded.record, body = excluded.body, "
                           "content_hash = excluded.content_hash",
                           [(e.record.id, e.record.to_json(), e.body, e.record.content_hash) for e in entries])
            db.execute("UPDATE generation SET value = ?", (uuid.uuid4().hex,))

    def delete(self, article_id: str) -> bool:
        with self._transaction() as db:
            if db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount == 0:
                return False
            db.execute("UPDATE generation SET value = ?", (uuid.uuid4().hex,))
            return True


def _metadata(record: ArticleRecord) -> dict[str, str]:
    return {"record": record.to_json(), "content_hash": record.content_hash}


class ChromaCatalog:
    """Records in a collection of a Chroma server: document = body, metadata = the record's JSON."""

    def __init__(self, client, name: str) -> None:
        self.client = client
        self.name = name
        # get_or_create leaves the metadata of an existing collection as it is.
        self.version = SCHEMA_VERSION
        self.records = client.get_or_create_collection(name, metadata=self._meta(), configuration={
            "hnsw": {"space": "cosine"}})
        self.version = int((self.records.metadata or {}).get("catalog_schema", 0))
        if self.version > SCHEMA_VERSION:
            raise _newer(f"'{name}'", self.version)
        if self.version == 1:
            self._add_hash_metadata()

    def _add_hash_metadata(self) -> None:
        """Version 1 to 2, the collection's part: each record's ``content_hash`` as metadata, to look up."""
        for offset in itertools.count(0, _PAGE):
            got = self.records.get(include=["metadatas"], offset=offset, limit=_PAGE)
            if not got["ids"]:
                return
            self.records.update(ids=got["ids"], metadatas=[_metadata(ArticleRecord.from_json(m["record"]))
                                                           for m in got["metadatas"]])

    def mark_current(self) -> None:
        self.version = SCHEMA_VERSION
        self.records.modify(metadata=self._meta())

    def _meta(self) -> dict:
        # modify() replaces the whole metadata, so every write carries the schema version too
        # (the old one until the store's upgrade is done: one cut short is redone on the next open).
        return {"catalog_schema": self.version, "generation": uuid.uuid4().hex}

    def generation(self) -> str:
        # The collection object caches its metadata; a fresh fetch sees other workers' writes.
        return self.client.get_collection(self.name).metadata["generation"]

    def count(self) -> int:
        return self.records.count()

    def list(self, offset: int, limit: int) -> list[ArticleRecord]:
        got = self.records.get(include=["metadatas"], offset=offset, limit=limit)
        return [ArticleRecord.from_json(m["record"]) for m in got["metadatas"]]

    def get_many(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        if not ids:
            return {}
        got = self.records.get(ids=list(ids), include=["metadatas"])
        return {i: ArticleRecord.from_json(m["record"]) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def with_body(self, article_id: str) -> tuple[ArticleRecord, str] | None:
        got = self.records.get(ids=[article_id], include=["metadatas", "documents"])
        return (ArticleRecord.from_json(got["metadatas"][0]["record"]), got["documents"][0]) if got["ids"] else None

    def holders(self, hashes: Sequence[str]) -> dict[str, str]:
        if not hashes:
            return {}
        got = self.records.get(where={"content_hash": {"$in": list(hashes)}}, include=["metadatas"])
        found: dict[str, str] = {}
        # The collection keeps no order of storing: the least id, so every worker names the same one.
        for article_id, meta in sorted(zip(got["ids"], got["metadatas"], strict=True)):
            found.setdefault(meta["content_hash"], article_id)
        return found

    def close(self) -> None:
        """Nothing of its own to release: the Chroma client is the store's."""

    def put(self, entries: Sequence[CatalogEntry]) -> None:
        from chromadb.utils.batch_utils import create_batches

        for ids, vectors, metadatas, documents in create_batches(
            self.client, [e.record.id for e in entries], [e.vector.tolist() for e in entries],
            [_metadata(e.record) for e in entries], [e.body for e in entries],
        ):
            self.records.upsert(ids=ids, embeddings=vectors, metadatas=metadatas, documents=documents)
        self.records.modify(metadata=self._meta())

    def delete(self, article_id: str) -> bool:
        if not self.records.get(ids=[article_id], include=[])["ids"]:
            return False
        self.records.delete(ids=[article_id])
        self.records.modify(metadata=self._meta())
        return True
