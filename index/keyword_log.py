"""The keyword index with a Chroma server: a change log on the server, a copy on each worker's disk.

Workers on several hosts share the server's chunks but no file, so each keeps
its own copy of the keyword index (``index.keyword.FtsKeywords``: the embedded
index's schema and code) and the store tells them what changed through the
server.

The change log is the collection ``NAME__changes``. Every write and every
delete of the store appends an entry after the articles' chunks have changed
(and before their records): a random id, ``ts_ms`` (the writer's clock) and
``article_ids`` (JSON), with a one-dimensional placeholder vector, since Chroma
stores none without one.

Applying an entry re-syncs the articles it names: their rows are forgotten,
then rows are added for their chunks as the server holds them at that moment
(none once deleted). So applying is idempotent and needs no order: an entry
applied twice, late, or after a later one leaves the rows the server's chunks
call for now, and concurrent writers need no order among themselves.

Each copy is a file in the worker's data directory, named after the server
address and the collection (``keyword_copy_path``), which also holds what was
applied: the worker's clock when it last read the log, and the ids of the
entries applied since that time minus ``WINDOW_MS``. Before a search, at most
every ``CHECK_INTERVAL_S`` (and at once after a write through this process),
the worker asks the log for the ids of the entries since its last read minus
the window, fetches those it has not applied and re-syncs their articles in
one transaction. The window covers an entry stamped before a read but stored
after it (a slow request) and clocks of hosts apart by less than it.
Processes of one host share the file (WAL, each searching its last committed
state); a transaction keeps the file's write lock while it reads the server,
so one process's older read of an article never lands after another's newer
one.

A new copy is filled once by paging through the server's chunks, its read
time taken before the first page, so entries written meanwhile are applied
after it. A restarted worker catches up from the log instead, reading only
what changed while it was down.

Writers delete entries older than ``RETENTION_MS`` (each process at most every
``TRIM_INTERVAL_S``). A copy whose last read is older than the retention less
twice the window (a worker down or without a search that long) may have missed
trimmed entries and is built again, as is one built from another collection of
that name (dropped and created again on the server).
"""
from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Generic

from index.keyword import C, FtsKeywords, KeywordFilter

# An entry stamped this long before a read, or by a clock this far behind, is still read.
WINDOW_MS = 30_000
RETENTION_MS = 7 * 24 * 3600 * 1000
# How often a worker under searches reads the log: the delay before it sees another worker's write.
CHECK_INTERVAL_S = 0.15
TRIM_INTERVAL_S = 600
# Entries stay small (Chroma metadata); requests for entries and for the chunks of re-synced
# articles stay bounded.
_IDS_PER_ENTRY = 1000
_IDS_PER_REQUEST = 1000
_ARTICLES_PER_FETCH = 100
# A worker building its copy waits this long for another process of its host building the same file.
_BUILD_WAIT_S = 3600
_STATE = ("CREATE TABLE IF NOT EXISTS log_read (collection TEXT NOT NULL, read_ms INTEGER NOT NULL)",
          "CREATE TABLE IF NOT EXISTS log_applied (id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL)")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def keyword_copy_path(directory: Path, host: str | None, port: int | None, name: str) -> Path:
    """A worker's copy of the keyword index of collection ``name`` on the server ``host:port``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{host}-{port}-{name}")
    return directory / f"{safe}.keywords.sqlite3"


@dataclass(frozen=True)
class Change:
    """One entry of the log: these articles' chunks changed (were written or deleted)."""

    id: str
    ts_ms: int
    article_ids: tuple[str, ...]


class ChangeLog:
    """The collection ``NAME__changes`` on the Chroma server (see the module docstring)."""

    def __init__(self, client, name: str) -> None:
        self._client = client
        self._name = f"{name}__changes"
        self._trimmed_at = float("-inf")

    @cached_property
    def collection(self):
        """Made on first use: a store that neither writes nor searches never asks for it."""
        return self._client.get_or_create_collection(self._name)

    def append(self, article_ids: Iterable[str]) -> None:
        ids = sorted(set(article_ids))
        parts = [ids[i : i + _IDS_PER_ENTRY] for i in range(0, len(ids), _IDS_PER_ENTRY)]
        if not parts:
            return
        ts = now_ms()
        self.collection.add(ids=[uuid.uuid4().hex for _ in parts], embeddings=[[1.0] for _ in parts],
                            metadatas=[{"ts_ms": ts, "article_ids": json.dumps(p)} for p in parts])
        if time.monotonic() - self._trimmed_at >= TRIM_INTERVAL_S:
            self._trimmed_at = time.monotonic()
            self.collection.delete(where={"ts_ms": {"$lt": ts - RETENTION_MS}})

    def ids_since(self, ts_ms: int) -> list[str]:
        """Ids of the entries stamped at ``ts_ms`` or later (ids only: the common answer is all applied)."""
        return self.collection.get(where={"ts_ms": {"$gte": ts_ms}}, include=[])["ids"]

    def changes(self, ids: Sequence[str]) -> list[Change]:
        """These entries (those still kept), a bounded request at a time (a worker back after days asks for many)."""
        found: list[Change] = []
        for start in range(0, len(ids), _IDS_PER_REQUEST):
            got = self.collection.get(ids=list(ids[start : start + _IDS_PER_REQUEST]), include=["metadatas"])
            found += [Change(i, m["ts_ms"], tuple(json.loads(m["article_ids"])))
                      for i, m in zip(got["ids"], got["metadatas"], strict=True)]
        return found


class LoggedKeywords(Generic[C]):
    """A worker's copy of the keyword index, kept in step with the change log.

    ``load`` pages through every chunk on the server (to build the copy),
    ``fetch`` returns the chunks of some articles as the server holds them now,
    ``collection`` is the id of the server's chunk collection. The file is
    opened (and built, the first time) by the first search or ``warm_up``, so a
    process that only writes never builds it. ``builds`` and ``resynced``
    count this object's full builds and re-synced articles.
    """

    def __init__(self, path: Path | None, chunk_type: type[C], log: ChangeLog, collection: str,
                 load: Callable[[], Iterable[C]], fetch: Callable[[Sequence[str]], Iterable[C]]) -> None:
        self._path = path
        self._type = chunk_type
        self._log = log
        self._collection = collection
        self._load = load
        self._fetch = fetch
        self._lock = threading.Lock()
        self._index: FtsKeywords[C] | None = None
        self._next_check = 0.0
        self.builds = 0
        self.resynced = 0

    # -- the KeywordIndex protocol ----------------------------------------------------
    def search(self, query: str, n: int, where: KeywordFilter | None = None) -> list[tuple[C, float]]:
        return self._current().search(query, n, where)

    def chunks(self, ids: Sequence[str]) -> dict[str, C]:
        return self._current().chunks(ids)

    def passing(self, ids: Sequence[str], where: KeywordFilter) -> set[str]:
        return self._current().passing(ids, where)

    def forget(self, article_ids: Sequence[str]) -> None:
        """Nothing: the entry appended after the change re-syncs them."""

    def add(self, chunks: Sequence[C]) -> None:
        self._changed({c.article_id for c in chunks})

    def deleted(self, article_ids: Sequence[str]) -> None:
        self._changed(article_ids)

    def warm_up(self) -> None:
        self._next_check = 0.0
        self._current()

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None

    # -- the copy ---------------------------------------------------------------------
    def _changed(self, article_ids: Iterable[str]) -> None:
        self._log.append(article_ids)
        self._next_check = 0.0  # this process's next search sees its own write

    def _current(self) -> FtsKeywords[C]:
        with self._lock:
            if self._index is None:
                self._index = self._open()
            if time.monotonic() >= self._next_check:
                started = time.monotonic()
                self._catch_up(self._index)
                self._next_check = started + CHECK_INTERVAL_S
            return self._index

    def _open(self) -> FtsKeywords[C]:
        if self._path is None:
            raise ValueError("a keyword index on a Chroma server keeps a copy on local disk: "
                             "give the store a directory for it (the data directory, QA_DATA_DIR)")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # No rows on creation: the copy is built under its read time (_build).
        index = FtsKeywords(self._path, self._type, lambda: (), wait_s=_BUILD_WAIT_S)
        with index.transaction() as db:
            for statement in _STATE:
                db.execute(statement)
        return index

    def _read_ms(self, db: sqlite3.Connection) -> int | None:
        """The last read of the log, or None when the copy must be built (see the module docstring)."""
        row = db.execute("SELECT collection, read_ms FROM log_read").fetchone()
        if row is None or row[0] != self._collection or now_ms() - row[1] > RETENTION_MS - 2 * WINDOW_MS:
            return None
        return row[1]

    def _build(self, index: FtsKeywords[C]) -> int:
        """Every chunk on the server, in one transaction; the read time it records."""
        started = now_ms()
        with index.transaction() as db:
            read = self._read_ms(db)
            if read is not None:  # another process of this host built it while this one waited
                return read
            index.clear_rows(db)
            db.execute("DELETE FROM log_applied")
            index.insert_rows(db, self._load(), skip_known=True)
            db.execute("DELETE FROM log_read")
            db.execute("INSERT INTO log_read VALUES (?, ?)", (self._collection, started))
        self.builds += 1
        return started

    def _catch_up(self, index: FtsKeywords[C]) -> None:
        started = now_ms()
        with index.transaction() as db:  # a short one: reads the state
            read = self._read_ms(db)
        if read is None:
            read = self._build(index)
        ids = self._log.ids_since(read - WINDOW_MS)
        with index.transaction() as db:
            fresh = _not_applied(db, ids)
        if not fresh and started - read < WINDOW_MS // 2:
            return  # nothing to apply, and the recorded read is recent enough to read from next time
        with index.transaction() as db:
            # Again under the write lock: another process of this host may have applied some meanwhile.
            changes = self._log.changes(_not_applied(db, fresh))
            articles = sorted({a for change in changes for a in change.article_ids})
            index.forget_rows(db, articles)
            for i in range(0, len(articles), _ARTICLES_PER_FETCH):
                index.insert_rows(db, self._fetch(articles[i : i + _ARTICLES_PER_FETCH]))
            db.executemany("INSERT OR IGNORE INTO log_applied VALUES (?, ?)", [(c.id, c.ts_ms) for c in changes])
            db.execute("UPDATE log_read SET read_ms = max(read_ms, ?)", (started,))
            db.execute("DELETE FROM log_applied WHERE ts_ms < (SELECT read_ms FROM log_read) - ?", (WINDOW_MS,))
        self.resynced += len(articles)


def _not_applied(db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    applied = {i for i, in db.execute("SELECT id FROM log_applied WHERE id IN (SELECT value FROM json_each(?))",
                                      (json.dumps(list(ids)),))}
    return [i for i in ids if i not in applied]
