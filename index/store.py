"""Chroma storage of chunks and sentences (with embeddings); article records go to the catalog.

Collections per index: ``NAME`` holds chunks and their vectors,
``NAME__sentences`` the sentence vectors; article records (with bodies) and
the write generation live in an ``index.catalog.ArticleCatalog`` beside them.

Chroma and the catalog are two stores, not one transaction, so the order of
writes carries consistency: an article's chunks and sentences are written
first and its record last, so a record is only written for a fully written
article. A killed ingest leaves at worst chunks without a record; the re-run
finds no record (or the old version's, with its chunk count), so it writes
the article again, overwriting those chunks by id and deleting the old
version's surplus ones. A delete removes the record last too: one cut short
still lists the article, and deleting again finishes it.

An index of the first layout, with records in a ``NAME__articles``
collection (one-dimensional placeholder vectors and a generation
pseudo-record), is migrated when opened: its records are copied into the
catalog, then that collection is dropped. A migration cut short is redone
on the next open (the copy is an upsert; the old collection goes last).

A catalog of schema version 1 named articles by their URL without its query
(``story?id=1`` and ``story?id=2`` were one article). On open, each article
whose id this version derives differently is moved to its new id: chunks and
sentences copied, then the new record, then the old chunks, sentences and
record removed; the catalog is marked current last, so an upgrade cut short
is finished on the next open.
"""
from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from index.analysis import ANALYZER_ID
from index.article import Article, Chunk, article_id_for, chunk_id
from index.catalog import SCHEMA_VERSION, ArticleRecord, CatalogEntry, IncompatibleIndex, open_catalog
from index.keyword import FtsKeywords, KeywordFilter, KeywordIndex
from index.keyword_log import ChangeLog, LoggedKeywords, keyword_copy_path

_PAGE = 5000
# Pages of every chunk overlap by this much: a delete before the read position, made while
# paging, moves the rest back by its chunks, and no chunk is skipped while fewer than this go.
_PAGE_OVERLAP = 1000
# Records of the first layout are copied a page at a time, with their chunks' vectors.
_MIGRATION_PAGE = 256


class EmbeddingModelMismatch(IncompatibleIndex):
    """The index was built with another embedding model than the one configured."""


class AnalyzerMismatch(IncompatibleIndex):
    """The index's sentences were cut by another analyser: its sentence vectors would not
    line up with the sentences this code finds in a passage."""


# kw_only: the article fields follow Chunk's defaulted ``id``.
@dataclass(frozen=True, kw_only=True)
class StoredChunk(Chunk):
    """A chunk with the article fields retrieval needs; all but ``id`` and ``text`` are its Chroma metadata."""

    title: str
    url: str | None
    source: str
    published_at: str | None
    published_ts: int | None

    @classmethod
    def of(cls, article: Article, chunk: Chunk) -> StoredChunk:
        """The chunk's own fields from ``chunk``, the others from its article."""
        own = {f.name for f in fields(Chunk)}
        return cls(published_ts=article.timestamp, **{
            f.name: getattr(chunk if f.name in own else article, f.name)
            for f in fields(cls) if f.name != "published_ts"
        })

    def chroma_metadata(self) -> dict[str, Any]:
        return _without_none({name: getattr(self, name) for name in _CHUNK_META})

    @classmethod
    def from_chroma(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> StoredChunk:
        # Chroma drops None values, so a missing key reads as None.
        values: dict[str, Any] = {name: meta.get(name) for name in _CHUNK_META}
        return cls(id=chunk_id, text=text, **values)


# A filtered dense search asks for this many times the nearest it needs, unfiltered: enough for a
# filter that keeps one chunk in 16 (a source of 16) to leave as many as asked for, most times.
FILTER_WIDENING = 32
_CHUNK_META = [f.name for f in fields(StoredChunk) if f.name not in ("id", "text")]


@dataclass(frozen=True)
class ArticleWrite:
    """One article to (re)write; ``previous_chunks`` is how many chunks its old version had.

    ``sentences[i]`` holds the sentences of ``chunks[i]`` (as the chunker cut them, its
    ``sentence_spans``) and ``sentence_vectors[i]`` their vectors, in order (``sentence_id``
    numbers them).
    """

    article: Article
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    previous_chunks: int = 0
    sentence_vectors: Sequence[np.ndarray] = ()
    sentences: Sequence[Sequence[str]] = ()


def sentence_id(chunk_id: str, i: int) -> str:
    return f"{chunk_id}/{i}"


def chunk_of_sentence(sentence_id_: str) -> str:
    return sentence_id_.rsplit("/", 1)[0]


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _chunk_ids(article_id: str, count: int) -> list[str]:
    return [chunk_id(article_id, n) for n in range(count)]


def _first_layout_record(article_id: str, meta: dict[str, Any]) -> ArticleRecord:
    """A record of the first layout: the fields as metadata, lists as JSON, the chunk count as ``n_chunks``."""
    values = {**meta, "id": article_id, "chunks": meta["n_chunks"],
              "authors": tuple(json.loads(meta["authors"])), "captions": tuple(json.loads(meta["captions"]))}
    record: dict[str, Any] = {f.name: values.get(f.name) for f in fields(ArticleRecord)}
    return ArticleRecord(**record)


def _without_none(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if v is not None}


def make_client(path: str | None = None, host: str | None = None, port: int = 8000):
    """An embedded PersistentClient at ``path``, or an HttpClient when ``host`` is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if host:
        return chromadb.HttpClient(host=host, port=port, settings=chroma_settings)
    if path is None:
        raise ValueError("an embedded Chroma store needs a path")
    return chromadb.PersistentClient(path=path, settings=chroma_settings)


class ChromaStore:
    """Chunks, vectors and article records of one index, tied to one embedding model.

    ``keyword_dir``: where a worker keeps its copy of the keyword index of a Chroma
    server (embedded, the index is a file beside Chroma's).
    """

    def __init__(self, client, name: str, model_id: str, dim: int, search_ef: int = 128,
                 keyword_dir: Path | None = None) -> None:
        self.client = client
        self.model_id = model_id
        self.dim = dim
        self.chunks = client.get_or_create_collection(
            name,
            metadata={"embedding_model": model_id, "embedding_dim": dim, "analyzer": ANALYZER_ID},
            # Chroma's default ef_search gave poor recall; cosine matches the
            # normalised sentence-transformers vectors.
            configuration={"hnsw": {"space": "cosine", "ef_search": search_ef, "ef_construction": 200}},
        )
        self._check_model()
        self._check_analyzer()
        # Sentence vectors, computed once at ingest: evidence ranking, sentence-level
        # retrieval and the checker read them instead of re-embedding per question.
        self.sentences = client.get_or_create_collection(
            f"{name}__sentences",
            configuration={"hnsw": {"space": "cosine", "ef_search": search_ef, "ef_construction": 200}},
        )
        self._max_batch = min(client.get_max_batch_size(), 4096)
        self.catalog = open_catalog(client, name)
        self._upgrade(f"{name}__articles")
        # After the upgrade: an index from before the keyword file is filled from its chunks as they are now.
        self.keywords = self._open_keywords(name, keyword_dir)

    def _open_keywords(self, name: str, keyword_dir: Path | None) -> KeywordIndex[StoredChunk]:
        """A file beside Chroma's, or a copy of a server's index that its change log keeps in step."""
        settings = self.client.get_settings()
        if settings.is_persistent:
            return FtsKeywords(Path(settings.persist_directory) / f"{name}.keywords.sqlite3", StoredChunk,
                               self.iter_chunks)
        path = keyword_copy_path(keyword_dir, settings.chroma_server_host, settings.chroma_server_http_port,
                                 name) if keyword_dir else None
        return LoggedKeywords(path, StoredChunk, ChangeLog(self.client, name), str(self.chunks.id),
                              self.iter_chunks, self.article_chunks)

    def close(self) -> None:
        """Close the catalog and the Chroma client (Chroma frees its system once its last client closes)."""
        self.keywords.close()
        self.catalog.close()
        self.client.close()

    def _check_model(self) -> None:
        meta = self.chunks.metadata or {}
        stored_model, stored_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if stored_model != self.model_id or int(stored_dim or 0) != self.dim:
            raise EmbeddingModelMismatch(
                f"index '{self.chunks.name}' was built with embedding model '{stored_model}' "
                f"(dim {stored_dim}) but the configured model is '{self.model_id}' (dim {self.dim}); "
                "use the same model or a new data directory / collection"
            )

    def _check_analyzer(self) -> None:
        meta = dict(self.chunks.metadata or {})
        if meta.get("analyzer") == ANALYZER_ID:
            return
        if self.chunks.count() == 0:
            # Nothing cut yet: the collection takes this analyser.
            self.chunks.modify(metadata={**meta, "analyzer": ANALYZER_ID})
            return
        raise AnalyzerMismatch(
            f"index '{self.chunks.name}' was cut into sentences by '{meta.get('analyzer', 'the regex splitter')}' "
            f"but this version uses '{ANALYZER_ID}'; re-ingest the articles into a new data directory "
            "or collection")

    def _upgrade(self, first_layout: str) -> None:
        """Bring an index of an older layout or schema version up to this one (see the module docstring)."""
        from chromadb.errors import NotFoundError

        try:
            old = self.client.get_collection(first_layout)
        except NotFoundError:
            old = None
        if old is not None:
            self._copy_first_layout(old)
        if old is not None or self.catalog.version < SCHEMA_VERSION:
            for record, new_id in self._renamed():
                self._move(record, new_id)
            self.catalog.mark_current()
        if old is not None:
            self.client.delete_collection(first_layout)

    def _renamed(self) -> list[tuple[ArticleRecord, str]]:
        """Records whose id this version derives differently from their fields, with the new id."""
        moves: list[tuple[ArticleRecord, str]] = []
        offset = 0
        while records := self.catalog.list(offset, _MIGRATION_PAGE):
            offset += len(records)
            for record in records:
                new_id = article_id_for(record.url, record.source, record.title, record.published_at)
                if new_id != record.id:
                    moves.append((record, new_id))
        return moves

    def _move(self, record: ArticleRecord, new_id: str) -> None:
        """Store one article under ``new_id``, then remove it from its old id."""
        found = self.catalog.with_body(record.id)
        if found is None:
            return
        if not self.catalog.get_many([new_id]):  # else a move cut short already wrote it
            vectors = self._copy_vectors(self.chunks, record.id, new_id)
            self._copy_vectors(self.sentences, record.id, new_id)
            self.catalog.put([CatalogEntry(replace(record, id=new_id), found[1], self._mean(vectors))])
        self.chunks.delete(where={"article_id": record.id})
        self.sentences.delete(where={"article_id": record.id})
        self.catalog.delete(record.id)

    def _copy_vectors(self, collection, old_id: str, new_id: str) -> np.ndarray:
        """Copy an article's rows of ``collection`` (chunks or sentences) to ids under ``new_id``; their vectors."""
        got = collection.get(where={"article_id": old_id}, include=["embeddings", "documents", "metadatas"])
        rows = list(zip(got["ids"], got["embeddings"], got["documents"], got["metadatas"], strict=True))
        for batch in _batches(rows, self._max_batch):
            collection.upsert(ids=[new_id + i.removeprefix(old_id) for i, _, _, _ in batch],
                              embeddings=[v for _, v, _, _ in batch], documents=[d for _, _, d, _ in batch],
                              metadatas=[{**m, "article_id": new_id} for _, _, _, m in batch])
        return np.array([v for _, v, _, _ in rows])

    def _copy_first_layout(self, old) -> None:
        """Copy the records of a ``NAME__articles`` collection into the catalog."""
        for offset in itertools.count(0, _MIGRATION_PAGE):
            got = old.get(where={"kind": "article"}, include=["metadatas", "documents"],
                          offset=offset, limit=_MIGRATION_PAGE)
            if not got["ids"]:
                break
            records = [_first_layout_record(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)]
            self.catalog.put([CatalogEntry(r, body, self._mean(v)) for r, body, v
                              in zip(records, got["documents"], self._chunk_vectors(records), strict=True)])

    # -- articles ---------------------------------------------------------
    def article_record(self, article_id: str) -> ArticleRecord | None:
        return self.catalog.get_many([article_id]).get(article_id)

    def article_records(self, ids: Sequence[str]) -> dict[str, ArticleRecord]:
        """Records of those articles that exist, by id (one round trip)."""
        return self.catalog.get_many(ids)

    def holders(self, content_hashes: Sequence[str]) -> dict[str, str]:
        """For each stored content hash among these, the id of an article holding it."""
        return self.catalog.holders(content_hashes)

    def article_with_body(self, article_id: str) -> tuple[ArticleRecord, str] | None:
        return self.catalog.with_body(article_id)

    def list_articles(self, offset: int = 0, limit: int = 50) -> list[ArticleRecord]:
        return self.catalog.list(offset, limit)

    def count_articles(self) -> int:
        return self.catalog.count()

    def count_chunks(self) -> int:
        return self.chunks.count()

    def generation(self) -> str:
        """Changes with every write or delete from any process (see ``index.catalog``)."""
        return self.catalog.generation()

    def write_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace every chunk of one article and then its record."""
        previous = self.article_record(article.id)
        self.write_articles([ArticleWrite(article, chunks, vectors, previous.chunks if previous else 0)])

    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Replace the chunks of several articles, then write their records.

        A few large calls instead of three per article: every Chroma write
        call has a fixed cost (about 30 ms here) whatever its size. Old chunks
        are deleted by id (their count is in the previous record) rather than
        by a metadata filter, which would scan the whole collection. Records
        go last (see the module docstring).
        """
        # Keyword rows go before the chunks change and come back after (see index.keyword).
        self.keywords.forget([w.article.id for w in writes])
        stale = [i for w in writes for i in _chunk_ids(w.article.id, w.previous_chunks)]
        for ids in _batches(stale, self._max_batch):
            self.chunks.delete(ids=ids)
        replaced = [w.article.id for w in writes if w.previous_chunks]
        if replaced:  # a metadata scan, but only for articles that changed
            self.sentences.delete(where={"article_id": {"$in": replaced}})
        sentence_rows = [
            (w.article, sentence_id(c.id, i), text, vector)
            # A write without sentences (the search bench's synthetic chunks) stores no sentence rows.
            for w in writes if w.sentences
            for c, texts, vectors in zip(w.chunks, w.sentences, w.sentence_vectors, strict=True)
            for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
        ]
        for batch in _batches(sentence_rows, self._max_batch):
            self.sentences.upsert(
                ids=[i for _, i, _, _ in batch], embeddings=[v.tolist() for _, _, _, v in batch],
                documents=[t for _, _, t, _ in batch],
                metadatas=[_without_none({"article_id": a.id, "source": a.source, "published_ts": a.timestamp})
                           for a, _, _, _ in batch],
            )
        rows = [(StoredChunk.of(w.article, c), v) for w in writes for c, v in zip(w.chunks, w.vectors, strict=True)]
        for batch in _batches(rows, self._max_batch):
            self.chunks.upsert(
                ids=[c.id for c, _ in batch], embeddings=[v.tolist() for _, v in batch],
                documents=[c.text for c, _ in batch], metadatas=[c.chroma_metadata() for c, _ in batch],
            )
        self.keywords.add([c for c, _ in rows])
        self.catalog.put([
            CatalogEntry(ArticleRecord.of(w.article, len(w.chunks)), w.article.body, self._mean(w.vectors))
            for w in writes
        ])

    def _chunk_vectors(self, records: Sequence[ArticleRecord]) -> list[np.ndarray]:
        """The stored chunk vectors of each article, in order."""
        found: dict[str, Any] = {}
        for ids in _batches([i for r in records for i in _chunk_ids(r.id, r.chunks)], self._max_batch):
            got = self.chunks.get(ids=list(ids), include=["embeddings"])
            found.update(zip(got["ids"], got["embeddings"], strict=True))
        return [np.array([found[i] for i in _chunk_ids(r.id, r.chunks) if i in found]) for r in records]

    def _mean(self, vectors: np.ndarray) -> np.ndarray:
        """An article's embedding: the normalised mean of its chunk vectors (zero without chunks)."""
        if len(vectors) == 0:
            return np.zeros(self.dim, dtype=np.float32)
        mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
        return mean / (np.linalg.norm(mean) or 1.0)

    def delete_article(self, article_id: str) -> bool:
        """Remove the article and all its chunks; False when it was not there."""
        self.keywords.forget([article_id])
        self.chunks.delete(where={"article_id": article_id})
        self.sentences.delete(where={"article_id": article_id})
        self.keywords.deleted([article_id])
        return self.catalog.delete(article_id)

    # -- chunks -----------------------------------------------------------
    def nearest(self, vector: np.ndarray, n: int, among: KeywordFilter | None = None) -> list[tuple[str, float]]:
        """Ids of the nearest chunks that pass ``among`` with their cosine similarity, best first.

        Ids and distances only: fetching documents and metadata is most of a
        query's cost, and retrieval reads the chunks from the keyword index
        (``get_chunks`` covers the rest).

        Chroma answers a filtered query by first finding every chunk that
        matches in its metadata tables, which grows with the corpus (97 of a
        172 ms search at 100,000 chunks, one source of 16); so the unfiltered
        ``FILTER_WIDENING`` times as many nearest are asked for and the keyword
        index's chunk table says which pass. When ``n`` of them pass they are
        the filtered nearest, and so are all that pass when the unfiltered query
        came back short (it saw the whole collection); otherwise (a narrow
        filter) Chroma's filtered query runs.
        """
        return self._nearest_passing(self.chunks, vector, n, among, lambda chunk_id: chunk_id)

    def chroma_nearest(self, vector: np.ndarray, n: int, where: dict | None,
                       sentences: bool = False) -> list[tuple[str, float]]:
        """Chroma's own query for the nearest chunks (or sentences) matching ``where``."""
        return self._query(self.sentences if sentences else self.chunks, vector, n, where)

    def nearest_sentences(self, vector: np.ndarray, n: int,
                          among: KeywordFilter | None = None) -> list[tuple[str, float]]:
        """Ids of the nearest sentences (``sentence_id`` form) that pass ``among``, with their cosine
        similarity, best first; filtered as ``nearest`` is, by each sentence's chunk (Chroma's filtered
        query cost 94 of a 155 ms retrieve at 1,000,000 chunks, one source of 16)."""
        return self._nearest_passing(self.sentences, vector, n, among, chunk_of_sentence)

    def _nearest_passing(self, collection, vector: np.ndarray, n: int, among: KeywordFilter | None,
                         chunk_of: Callable[[str], str]) -> list[tuple[str, float]]:
        where = among.where() if among is not None else None
        if among is not None and where:
            asked = n * FILTER_WIDENING
            wide = self._query(collection, vector, asked, None)
            passing = self.keywords.passing(list(dict.fromkeys(chunk_of(i) for i, _ in wide)), among)
            kept = [(i, score) for i, score in wide if chunk_of(i) in passing]
            if len(kept) >= n or len(wide) < asked and len(wide) >= collection.count():  # it saw all of them
                return kept[:n]
        return self._query(collection, vector, n, where)

    @staticmethod
    def _query(collection, vector: np.ndarray, n: int, where: dict | None) -> list[tuple[str, float]]:
        got = collection.query(
            query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"],
        )
        return [(i, 1.0 - float(dist)) for i, dist in zip(got["ids"][0], got["distances"][0], strict=True)]

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored sentence vectors by id (ids not stored are left out)."""
        if not ids:
            return {}
        got = self.sentences.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"], strict=True)}

    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]:
        if not ids:
            return []
        got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {i: StoredChunk.from_chroma(i, d, m)
                 for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, paged (to fill a keyword index); each once, unless it is rewritten meanwhile."""
        offset, previous = 0, set[str]()
        while True:
            got = self.chunks.get(include=["documents", "metadatas"], offset=offset, limit=_PAGE)
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                if i not in previous:
                    yield StoredChunk.from_chroma(i, d, m)
            if len(got["ids"]) < _PAGE:
                return
            offset, previous = offset + _PAGE - _PAGE_OVERLAP, set(got["ids"])

    def article_chunks(self, article_ids: Sequence[str]) -> list[StoredChunk]:
        """Every stored chunk of these articles (to re-sync their keyword rows)."""
        got = self.chunks.get(where={"article_id": {"$in": list(article_ids)}}, include=["documents", "metadatas"])
        return [StoredChunk.from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"],
                                                                      strict=True)]
