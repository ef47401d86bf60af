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

A search matches the query's rarest words only, as many as hold together at
most ``MATCH_ROWS`` rows (their document frequencies, from ``chunk_terms``),
and adds the commoner words' BM25 terms to the best of those rows
only: ``bm25()`` costs about two microseconds here for every row the
query matches, and a word such as "which" is in a fifth of all news chunks,
so matching every word scores hundreds of thousands of rows at a million
chunks to return twenty. The commoner words' terms are FTS5's own formula,
from their document frequencies, the row's length (``chunk_text_docsize``)
and their count in the row's text, so a candidate's score is the one
``bm25()`` gives it with every word; what pruning changes is which rows are
candidates (a row holding none of the rare words is not one). A query
whose words hold at most ``MATCH_ROWS`` rows together is matched whole.

``chunk_terms`` holds each word's document frequency, which FTS5 itself only
yields by walking the word's posting list (``fts5vocab``: 17-38 ms for "which"
at a million chunks, paid by every search that brings a new word). Every write
keeps it in the same transaction: the texts it adds or removes are tokenized by
FTS5 into a per-connection table (``temp.chunk_delta``, the same tokenizer), whose
vocabulary is added to or subtracted from it, so it always equals the
vocabulary's document counts. A process of schema version 1 refuses the file
once upgraded, but one that had it open before would write rows without their
counts: stop those before starting this version on the same file (a trigger on
the chunk table that such a write would fail on doubled a keyword-only write).

An index written before this file existed has none: it is filled from the stored
chunks when opened, once (the schema and all rows in one transaction, so one cut
short is redone on the next open). An index of schema version 1 (before
``chunk_terms``) gets the table filled from FTS5's vocabulary when opened, once; one
of version 1 or 2 gets the chunk columns added since (the sentence spans), empty for
the rows it holds.

With a Chroma server there is no file every worker shares: each worker keeps a
copy of this index on its own disk and applies a change log the store appends to
on the server (``index.keyword_log``; ARCHITECTURE.md, "Keyword index").
"""
from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from index.catalog import IncompatibleIndex

# 2: the document frequencies (chunk_terms). 3: the chunks' sentence spans (a column).
SCHEMA_VERSION = 3
# SQLite's page cache per connection, in KiB: the bound on a worker's keyword memory.
_CACHE_KIB = 65536
# The words of bm25s's default pattern (two or more word characters), which the index used before.
_WORD = re.compile(r"\w\w+")
# A search matches the rarest query words holding together at most this many rows (bm25() is paid per
# matched row); the others are scored for the best candidates only. evals/bench_keyword.py measures it.
MATCH_ROWS = 20_000
# Candidates the rare words bring, per hit asked for, which the commoner words re-score.
CANDIDATES_PER_HIT = 10
# FTS5's bm25() parameters (k1, b) and the IDF it gives a word in half the rows or more.
_K1, _B, _IDF_FLOOR = 1.2, 0.75, 1e-6
# Rows tokenized into temp.chunk_delta before their words are counted: bounds its memory in a fill.
_DELTA_ROWS = 10_000
# The Unicode blocks of combining diacritical marks, which a letter's canonical decomposition (NFD) ends in.
_COMBINING_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


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

    def where(self) -> dict[str, Any] | None:
        """The same conditions as a Chroma ``where`` on chunk metadata (None without any)."""
        clauses: list[dict[str, Any]] = []
        for column, values in (("source", self.sources), ("article_id", self.article_ids)):
            if values:
                clauses.append({column: {"$in": list(values)}})
        for op, bound in (("$gte", self.after), ("$lte", self.before)):
            if bound is not None:
                clauses.append({"published_ts": {op: bound}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@cache
def stopwords() -> frozenset[str]:
    """The English stop words the index has always left out of queries (bm25s's list)."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def query_words(query: str) -> list[str]:
    """The query's words, once each, without stop words."""
    return list(dict.fromkeys(w for w in _WORD.findall(query.lower()) if w not in stopwords()))


def match_expression(words: Sequence[str]) -> str:
    """An FTS5 query matching any of these words (BM25 sums over those a chunk holds).

    Each word is quoted, so FTS5 reads it as text, never as its syntax.
    """
    return " OR ".join(f'"{w}"' for w in words)


def _varints(blob: bytes) -> list[int]:
    """The integers of an FTS5 record (``_data`` averages, ``_docsize``): SQLite's big-endian varints."""
    values, i = [], 0
    while i < len(blob):
        value = 0
        for length in range(1, 10):
            byte = blob[i]
            i += 1
            if length == 9:  # the ninth byte carries eight bits
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if byte < 0x80:
                break
        values.append(value)
    return values


def _idf(rows: int, frequency: int) -> float:
    """FTS5's IDF of a word in ``frequency`` of ``rows`` rows."""
    value = math.log((rows - frequency + 0.5) / (frequency + 0.5))
    return value if value > 0 else _IDF_FLOOR


def _folded(text: str) -> str:
    """Without diacritics, as FTS5's unicode61 tokenizer reads it (its default remove_diacritics)."""
    if unicodedata.is_normalized("NFD", text):  # nothing to take apart (curly quotes, most news text)
        return text
    return _COMBINING_MARKS.sub("", unicodedata.normalize("NFD", text))


def _word_counts(text: str, words: Iterable[str]) -> dict[str, int]:
    """How often each of these (folded, lower-case) words is a unicode61 token of ``text``: a whole run
    of letters and digits. ``str.find`` and a look at the characters either side, not a regular
    expression: 2.4 against 6 ms for 200 news chunks and six words."""
    text = _folded(text).lower()
    counts: dict[str, int] = {}
    for word in words:
        start = text.find(word)
        while start >= 0:
            end = start + len(word)
            if not (start and text[start - 1].isalnum()) and not (end < len(text) and text[end].isalnum()):
                counts[word] = counts.get(word, 0) + 1
            start = text.find(word, end)
    return counts


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

    def passing(self, ids: Sequence[str], where: KeywordFilter) -> set[str]:
        """Those of these chunks the index holds that pass ``where``."""

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
    another process's transaction on the file. ``match_rows``: see ``MATCH_ROWS``
    (None matches every query word, as the index did before).
    """

    def __init__(self, path: Path, chunk_type: type[C], load: Callable[[], Iterable[C]],
                 wait_s: float = 60, match_rows: int | None = MATCH_ROWS) -> None:
        self._make: Callable[..., C] = chunk_type
        self._columns = [f.name for f in fields(chunk_type) if f.name != "text"]  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=wait_s, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        # WAL: a search in another process does not wait for a writer.
        self._db.execute("PRAGMA journal_mode = WAL")
        # Per connection, not in the file: the texts a write adds or removes, tokenized as chunk_text
        # tokenizes them (contentless: only their words are kept), and their words' document counts.
        self._db.execute("CREATE VIRTUAL TABLE temp.chunk_delta USING fts5(text, content = '', tokenize = 'unicode61')")
        self._db.execute("CREATE VIRTUAL TABLE temp.chunk_delta_vocab USING fts5vocab(temp, chunk_delta, row)")
        self._open(load, str(path))
        self._match_rows = match_rows

    def _open(self, load: Callable[[], Iterable[C]], where: str) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise KeywordVersionError(
                f"the keyword index {where} has schema version {version}, but this qa-service reads up to "
                f"version {SCHEMA_VERSION}: upgrade qa-service, or delete that file (it is rebuilt from the index)")
        if version == SCHEMA_VERSION:
            return
        with self.transaction() as db:
            # Another process may have filled or upgraded it while this one waited for the lock.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version == 0:
                columns = ", ".join(f'"{c}"' for c in self._columns)
                db.execute(f"CREATE TABLE chunks ({columns}, UNIQUE (id))")
                db.execute("CREATE INDEX chunks_by_article ON chunks (article_id)")
                db.execute("CREATE VIRTUAL TABLE chunk_text USING fts5(text, tokenize = 'unicode61')")
            if version < 2:
                db.execute("CREATE TABLE chunk_terms (term TEXT PRIMARY KEY, doc INTEGER NOT NULL) WITHOUT ROWID")
            if version == 0:
                self.insert_rows(db, load(), skip_known=True)
            else:
                self._upgrade(db, version)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _upgrade(self, db: sqlite3.Connection, version: int) -> None:
        """Rows of an older schema: their words' counts, once, from a walk of FTS5's whole vocabulary
        (version 1); the chunk fields added since, empty for the rows there (a chunk without its
        sentence spans has them cut when read)."""
        if version < 2:
            db.execute("CREATE VIRTUAL TABLE temp.chunk_vocab USING fts5vocab(main, chunk_text, row)")
            db.execute("INSERT INTO chunk_terms SELECT term, doc FROM temp.chunk_vocab")
            db.execute("DROP TABLE temp.chunk_vocab")
        held = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
        for column in self._columns:
            if column not in held:
                db.execute(f'ALTER TABLE chunks ADD COLUMN "{column}"')

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the file, holding the connection (``insert_rows``, ``forget_rows``
        and ``clear_rows`` take it, so a caller can add its own statements to theirs; they keep
        ``chunk_terms`` right only when all of a change goes through them)."""
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
        pending = 0
        for chunk in chunks:
            cursor = db.execute(insert, [getattr(chunk, c) for c in self._columns])
            if cursor.rowcount:
                db.execute("INSERT INTO chunk_text (rowid, text) VALUES (?, ?)", (cursor.lastrowid, chunk.text))
                db.execute("INSERT INTO temp.chunk_delta (text) VALUES (?)", (chunk.text,))
                pending += 1
                if pending == _DELTA_ROWS:
                    self._count_delta(db, 1)
                    pending = 0
        self._count_delta(db, 1)

    def forget_rows(self, db: sqlite3.Connection, article_ids: Sequence[str]) -> None:
        ids = json.dumps(list(article_ids))
        rows = "SELECT rowid FROM chunks WHERE article_id IN (SELECT value FROM json_each(?))"
        db.execute(f"INSERT INTO temp.chunk_delta (text) SELECT c0 FROM chunk_text_content WHERE id IN ({rows})",
                   (ids,))
        self._count_delta(db, -1)
        db.execute(f"DELETE FROM chunk_text WHERE rowid IN ({rows})", (ids,))
        db.execute("DELETE FROM chunks WHERE article_id IN (SELECT value FROM json_each(?))", (ids,))

    @staticmethod
    def clear_rows(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM chunk_text")
        db.execute("DELETE FROM chunks")
        db.execute("DELETE FROM chunk_terms")

    @staticmethod
    def _count_delta(db: sqlite3.Connection, sign: int) -> None:
        """Add (``sign`` 1) or subtract (-1) the document counts of the texts in ``temp.chunk_delta`` to
        ``chunk_terms``, and empty it; a word in no row any more leaves the table, as it leaves FTS5's."""
        db.execute("INSERT INTO chunk_terms SELECT term, ? * doc FROM temp.chunk_delta_vocab WHERE true "
                   "ON CONFLICT (term) DO UPDATE SET doc = doc + excluded.doc", (sign,))
        if sign < 0:
            db.execute("DELETE FROM chunk_terms WHERE doc = 0 AND term IN (SELECT term FROM temp.chunk_delta_vocab)")
        db.execute("INSERT INTO temp.chunk_delta (chunk_delta) VALUES ('delete-all')")

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
        words = query_words(query)
        if not words or n <= 0:
            return []
        conditions, params = (where or KeywordFilter()).sql()
        with self._lock, self._snapshot():
            rows, tokens = self._totals()
            rare, common = self._split(words)
            best = self._best(rare, n * CANDIDATES_PER_HIT if common else n, conditions, params)
            if common and len(best) < n:  # too few hold a rare word and pass the filter: match every word
                best, common = self._best(words, n, conditions, params), {}
            if common:
                best = self._rescored(best, common, rows, tokens)[:n]
            chunks = self._read("rowid", [rowid for rowid, _ in best])
        return [(chunks[rowid], score) for rowid, score in best]

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: a search's statements see the same committed state."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _totals(self) -> tuple[int, int]:
        """Rows and tokens in the index, from FTS5's averages record (what bm25() reads)."""
        found = self._db.execute("SELECT block FROM chunk_text_data WHERE id = 1").fetchone()
        if found is None or not found[0]:
            return 0, 0
        rows, tokens = _varints(found[0])[:2]
        return rows, tokens

    def _split(self, words: list[str]) -> tuple[list[str], dict[str, int]]:
        """The rarest words holding together at most ``match_rows`` rows (the rarest at least), and the
        others with their document frequencies."""
        if self._match_rows is None:
            return words, {}
        frequency = self._frequencies_of(words)
        by_rarity = sorted(words, key=frequency.__getitem__)
        matched = 0
        for taken, word in enumerate(by_rarity):
            matched += frequency[word]
            if taken and matched > self._match_rows:
                return by_rarity[:taken], {w: frequency[w] for w in by_rarity[taken:]}
        return by_rarity, {}

    def _frequencies_of(self, words: list[str]) -> dict[str, int]:
        """Document frequencies. A word no row holds as written (FTS5 folds "café" to "cafe") reads 0:
        it is matched."""
        found = dict(self._db.execute("SELECT term, doc FROM chunk_terms WHERE term IN "
                                      "(SELECT value FROM json_each(?))", (json.dumps(words),)))
        return {w: found.get(w, 0) for w in words}

    def _best(self, words: list[str], n: int, conditions: str, params: list[Any]) -> list[tuple[int, float]]:
        """The rowids of the best ``n`` rows holding one of ``words`` that pass the conditions, with
        their BM25 score (bm25() negated: it is lower for better matches)."""
        # Rowids and scores only: fields and texts are read for the rows returned, not every match.
        join = " JOIN chunks AS c ON c.rowid = t.rowid" if conditions else ""
        return self._db.execute(f"SELECT t.rowid, -bm25(chunk_text) AS score FROM chunk_text AS t{join} "
                                f"WHERE chunk_text MATCH ?{conditions} ORDER BY score DESC LIMIT ?",
                                [match_expression(words), *params, n]).fetchall()

    def _read(self, column: str, keys: Sequence[Any]) -> dict[Any, C]:
        """The chunks whose ``column`` (id or rowid) is one of ``keys``, by that key (under the lock)."""
        sql = (f"{self._select()}, c.{column} FROM chunks AS c JOIN chunk_text AS t ON t.rowid = c.rowid "
               f"WHERE c.{column} IN (SELECT value FROM json_each(?))")
        return {row[-1]: self._chunk(row[:-1]) for row in self._db.execute(sql, (json.dumps(list(keys)),))}

    def _rescored(self, best: list[tuple[int, float]], common: dict[str, int], rows: int,
                  tokens: int) -> list[tuple[int, float]]:
        """``best`` with the common words' terms added as bm25() computes them, best first."""
        # FTS5's own tables (content, lengths), not the virtual table, whose rowid lookups cost more.
        found = self._db.execute(
            "SELECT t.id, t.c0, d.sz FROM chunk_text_content AS t JOIN chunk_text_docsize AS d ON d.id = t.id "
            "WHERE t.id IN (SELECT value FROM json_each(?))", (json.dumps([rowid for rowid, _ in best]),))
        texts = {rowid: (text, _varints(size)[0]) for rowid, text, size in found}
        weights = {word: _idf(rows, frequency) for word, frequency in common.items()}
        scored = []
        for rowid, score in best:
            text, length = texts[rowid]
            saturation = _K1 * (1 - _B + _B * length * rows / tokens)
            counts = _word_counts(text, weights)
            score += sum(weights[w] * f * (_K1 + 1) / (f + saturation) for w, f in counts.items())
            scored.append((rowid, score))
        return sorted(scored, key=lambda hit: -hit[1])

    def chunks(self, ids: Sequence[str]) -> dict[str, C]:
        if not ids:
            return {}
        with self._lock:
            return self._read("id", ids)

    def passing(self, ids: Sequence[str], where: KeywordFilter) -> set[str]:
        if not ids:
            return set()
        conditions, params = where.sql()
        sql = f"SELECT c.id FROM chunks AS c WHERE c.id IN (SELECT value FROM json_each(?)){conditions}"
        with self._lock:
            return {row[0] for row in self._db.execute(sql, [json.dumps(list(ids)), *params])}

    def warm_up(self) -> None:
        """Nothing to load: pages are read as searches need them."""

    def close(self) -> None:
        with self._lock:
            self._db.close()
