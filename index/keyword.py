"""Keyword search over chunk texts: SQLite FTS5, ranked by its ``bm25()``.

Embedded, the index is a SQLite file beside the catalog (``NAME.keywords.sqlite3``)
that the store updates in place: a write replaces the rows of the articles it
changes, a delete removes theirs, and every process reading the file (WAL) sees
a committed change at its next search. Memory per process is SQLite's page
cache, bounded (``_CACHE_KIB``), whatever the corpus.

Rows are a plain table of each chunk's fields (indexed by article, for writes
and the filters, which are SQL conditions of the search) and an FTS5 table of
its text under the same rowid.

Consistency with Chroma, which is not in the same transaction: the store forgets
an article's rows before it touches its chunks and adds the new rows after the
chunks are written (and before the catalog record, which goes last), and a delete
forgets the rows first. So a keyword row never names a chunk that is not stored;
a kill leaves at worst stored chunks without rows, of an article that has no
current record (a write cut short, which the re-run writes again) or that is
still listed (a delete cut short, which deleting again finishes).

An index written before this file existed has none: it is filled from the stored
chunks when opened, once (the schema and all rows in one transaction, so one cut
short is redone on the next open).

With a Chroma server there is no file every worker shares: each worker keeps a
copy of this index on its own disk and applies a change log the store appends to
on the server (``index.keyword_log``; ARCHITECTURE.md, "Keyword index").
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from index.catalog import IncompatibleIndex

SCHEMA_VERSION = 1
# SQLite's page cache per connection, in KiB: the bound on a worker's keyword memory.
_CACHE_KIB = 65536
# The words of bm25s's default pattern (two or more word characters), which the index used before.
_WORD = re.compile(r"\w\w+")


class KeywordVersionError(IncompatibleIndex):
    """The keyword index was written by a newer qa-service."""


@dataclass(frozen=True)
class KeywordFilter:
    """Which chunks a keyword search may return; empty or None means no condition.

    ``after``/``before`` bound the chunk's ``published_ts`` (inclusive); an
    undated chunk is outside any bound.
    """

    sources: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()
    after: int | None = None
    before: int | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """The conditions on the chunk table ``c`` and their parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("source", self.sources), ("article_id", self.article_ids)):
            if values:
                clauses.append(f"c.{column} IN (SELECT value FROM json_each(?))")
                params.append(json.dumps(list(values)))
        for op, bound in ((">=", self.after), ("<=", self.before)):
            if bound is not None:
                clauses.append(f"c.published_ts {op} ?")
                params.append(bound)
        return "".join(f" AND {c}" for c in clauses), params


@cache
def stopwords() -> frozenset[str]:
    """The English stop words the index has always left out of queries (bm25s's list)."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def match_expression(query: str) -> str | None:
    """An FTS5 query matching any of the query's words (BM25 sums over those a chunk holds).

    Each word is quoted, so FTS5 reads it as text, never as its syntax; None without words.
    """
    words = dict.fromkeys(w for w in _WORD.findall(query.lower()) if w not in stopwords())
    return " OR ".join(f'"{w}"' for w in words) or None


class ChunkLike(Protocol):
    """What the index needs of a chunk (``index.store.StoredChunk``, a dataclass)."""

    @property
    def id(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def article_id(self) -> str: ...


C = TypeVar("C", bound=ChunkLike)


class KeywordIndex(Protocol[C]):
    """Keyword search over the stored chunks, kept in step by the store's writes."""

    def search(self, query: str, n: int, where: KeywordFilter | None = None) -> list[tuple[C, float]]:
        """The best ``n`` chunks holding a query word that pass ``where``, with their BM25 score."""

    def chunks(self, ids: Sequence[str]) -> dict[str, C]:
        """Those of these chunks the index holds, by id (no Chroma round trip)."""

    def forget(self, article_ids: Sequence[str]) -> None:
        """Before these articles' chunks change or are deleted: remove every row of theirs."""

    def add(self, chunks: Sequence[C]) -> None:
        """After these chunks are written: rows for them (``forget`` their articles first)."""

    def deleted(self, article_ids: Sequence[str]) -> None:
        """After these articles' chunks are deleted (``forget`` them first)."""

    def warm_up(self) -> None:
        """Do now what the first search would otherwise wait for."""

    def close(self) -> None: ...


class FtsKeywords(Generic[C]):
    """The keyword index in one SQLite file; one connection behind a lock.

    ``load`` reads every stored chunk, to fill a new file; a chunk it yields twice
    (rewritten while it pages) is kept once. ``wait_s``: how long a write waits for
    another process's transaction on the file.
    """

    def __init__(self, path: Path, chunk_type: type[C], load: Callable[[], Iterable[C]],
                 wait_s: float = 60) -> None:
        self._make: Callable[..., C] = chunk_type
        self._columns = [f.name for f in fields(chunk_type) if f.name != "text"]  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=wait_s, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        # WAL: a search in another process does not wait for a writer.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._open(load, str(path))

    def _open(self, load: Callable[[], Iterable[C]], where: str) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise KeywordVersionError(
                f"the keyword index {where} has schema version {version}, but this qa-service reads up to "
                f"version {SCHEMA_VERSION}: upgrade qa-service, or delete that file (it is rebuilt from the index)")
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            # Another process may have filled it while this one waited for the lock.
            if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
            columns = ", ".join(f'"{c}"' for c in self._columns)
            db.execute(f"CREATE TABLE chunks ({columns}, UNIQUE (id))")
            db.execute("CREATE INDEX chunks_by_article ON chunks (article_id)")
            db.execute("CREATE VIRTUAL TABLE chunk_text USING fts5(text, tokenize = 'unicode61')")
            self.insert_rows(db, load(), skip_known=True)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the file, holding the connection (``insert_rows``, ``forget_rows``
        and ``clear_rows`` take it, so a caller can add its own statements to theirs)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def insert_rows(self, db: sqlite3.Connection, chunks: Iterable[C], skip_known: bool = False) -> None:
        """Rows for ``chunks``; a chunk id already held is an error, or with ``skip_known`` left as it is."""
        columns = ", ".join(f'"{c}"' for c in self._columns)
        insert = (f"INSERT INTO chunks ({columns}) VALUES ({', '.join('?' * len(self._columns))})"
                  + (" ON CONFLICT (id) DO NOTHING" if skip_known else ""))
        for chunk in chunks:
            cursor = db.execute(insert, [getattr(chunk, c) for c in self._columns])
            if cursor.rowcount:
                db.execute("INSERT INTO chunk_text (rowid, text) VALUES (?, ?)", (cursor.lastrowid, chunk.text))

    @staticmethod
    def forget_rows(db: sqlite3.Connection, article_ids: Sequence[str]) -> None:
        ids = json.dumps(list(article_ids))
        db.execute("DELETE FROM chunk_text WHERE rowid IN "
                   "(SELECT rowid FROM chunks WHERE article_id IN (SELECT value FROM json_each(?)))", (ids,))
        db.execute("DELETE FROM chunks WHERE article_id IN (SELECT value FROM json_each(?))", (ids,))

    @staticmethod
    def clear_rows(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM chunk_text")
        db.execute("DELETE FROM chunks")

    def add(self, chunks: Sequence[C]) -> None:
        with self.transaction() as db:
            self.insert_rows(db, chunks)

    def forget(self, article_ids: Sequence[str]) -> None:
        if not article_ids:
            return
        with self.transaction() as db:
            self.forget_rows(db, article_ids)

    def deleted(self, article_ids: Sequence[str]) -> None:
        """Nothing: ``forget`` removed their rows from the file every process reads."""

    def _select(self) -> str:
        return "SELECT " + ", ".join(f'c."{c}"' for c in self._columns) + ", t.text"

    def _chunk(self, row: Sequence[Any]) -> C:
        return self._make(**dict(zip(self._columns, row[:-1], strict=True)), text=row[-1])

    def search(self, query: str, n: int, where: KeywordFilter | None = None) -> list[tuple[C, float]]:
        match = match_expression(query)
        if match is None or n <= 0:
            return []
        conditions, params = (where or KeywordFilter()).sql()
        # bm25() is lower for better matches.
        sql = (f"{self._select()}, bm25(chunk_text) AS score FROM chunk_text AS t JOIN chunks AS c "
               f"ON c.rowid = t.rowid WHERE chunk_text MATCH ?{conditions} ORDER BY score LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, [match, *params, n]).fetchall()
        return [(self._chunk(row[:-1]), -float(row[-1])) for row in rows]

    def chunks(self, ids: Sequence[str]) -> dict[str, C]:
        if not ids:
            return {}
        sql = (f"{self._select()} FROM chunks AS c JOIN chunk_text AS t ON t.rowid = c.rowid "
               "WHERE c.id IN (SELECT value FROM json_each(?))")
        with self._lock:
            rows = self._db.execute(sql, (json.dumps(list(ids)),)).fetchall()
        return {chunk.id: chunk for chunk in map(self._chunk, rows)}

    def warm_up(self) -> None:
        """Nothing to load: pages are read as searches need them."""

    def close(self) -> None:
        with self._lock:
            self._db.close()
