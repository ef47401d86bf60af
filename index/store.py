"""Chroma storage of chunks (with embeddings) and article records.

Two collections per index: ``NAME`` holds chunks and their vectors;
``NAME__articles`` holds one record per article (body and metadata), written
*after* its chunks so a record only exists for a fully written article, plus a
generation marker that changes on every write so other processes (API
workers, the keyword index) can tell the index changed.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from index.article import Article, Chunk
from index.sentences import sentence_spans

_GENERATION_ID = "__generation__"
# Chroma requires a vector for every record; article records are looked up by
# id or paged, never searched, so one constant dimension is enough.
_NO_VECTOR = [1.0]
_PAGE = 5000


class EmbeddingModelMismatch(RuntimeError):
    """The index was built with another embedding model than the one configured."""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as read back from Chroma, with the article fields retrieval needs."""

    id: str
    article_id: str
    n: int
    text: str
    start: int
    end: int
    title: str
    url: str | None
    source: str
    published_at: str | None
    published_ts: int | None

    @classmethod
    def from_chroma(cls, chunk_id: str, text: str, meta: dict[str, Any]) -> "StoredChunk":
        return cls(
            id=chunk_id, article_id=meta["article_id"], n=int(meta["n"]), text=text,
            start=int(meta["start"]), end=int(meta["end"]), title=meta.get("title", ""),
            url=meta.get("url"), source=meta.get("source", ""),
            published_at=meta.get("published_at"), published_ts=meta.get("published_ts"),
        )


@dataclass(frozen=True)
class ArticleWrite:
    """One article to (re)write; ``previous_chunks`` is how many chunks its old version had.

    ``sentence_vectors[i]`` holds the vectors of ``chunk_sentences(chunks[i].text)``.
    """

    article: Article
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    previous_chunks: int = 0
    sentence_vectors: Sequence[np.ndarray] = ()


def chunk_sentences(text: str) -> list[str]:
    """The sentences of a chunk whose vectors are stored, in order (``sentence_id`` numbers them)."""
    return [text[s:e] for s, e in sentence_spans(text)]


def sentence_id(chunk_id: str, i: int) -> str:
    return f"{chunk_id}/{i}"


def chunk_of_sentence(sentence_id_: str) -> str:
    return sentence_id_.rsplit("/", 1)[0]


def _new_generation() -> dict[str, Any]:
    return {"kind": "generation", "value": uuid.uuid4().hex}


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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
    """Chunks, vectors and article records of one index, tied to one embedding model."""

    def __init__(self, client, name: str, model_id: str, dim: int, search_ef: int = 128) -> None:
        self.client = client
        self.model_id = model_id
        self.dim = dim
        self.chunks = client.get_or_create_collection(
            name,
            metadata={"embedding_model": model_id, "embedding_dim": dim},
            # Chroma's default ef_search gave poor recall; cosine matches the
            # normalised sentence-transformers vectors.
            configuration={"hnsw": {"space": "cosine", "ef_search": search_ef, "ef_construction": 200}},
        )
        self._check_model()
        self.articles = client.get_or_create_collection(f"{name}__articles")
        # Sentence vectors, computed once at ingest: evidence ranking, sentence-level
        # retrieval and the checker read them instead of re-embedding per question.
        self.sentences = client.get_or_create_collection(
            f"{name}__sentences",
            configuration={"hnsw": {"space": "cosine", "ef_search": search_ef, "ef_construction": 200}},
        )
        self._max_batch = min(client.get_max_batch_size(), 4096)

    def _check_model(self) -> None:
        meta = self.chunks.metadata or {}
        stored_model, stored_dim = meta.get("embedding_model"), meta.get("embedding_dim")
        if stored_model != self.model_id or int(stored_dim or 0) != self.dim:
            raise EmbeddingModelMismatch(
                f"index '{self.chunks.name}' was built with embedding model '{stored_model}' "
                f"(dim {stored_dim}) but the configured model is '{self.model_id}' (dim {self.dim}); "
                "use the same model or a new data directory / collection"
            )

    # -- articles ---------------------------------------------------------
    def article_record(self, article_id: str, with_body: bool = False) -> dict[str, Any] | None:
        include = ["metadatas", "documents"] if with_body else ["metadatas"]
        got = self.articles.get(ids=[article_id], include=include)
        if not got["ids"]:
            return None
        return self._record(got["ids"][0], got["metadatas"][0], got["documents"][0] if with_body else None)

    @staticmethod
    def _record(article_id: str, meta: dict[str, Any], body: str | None) -> dict[str, Any]:
        record = {
            "id": article_id,
            "title": meta.get("title", ""),
            "url": meta.get("url"),
            "source": meta.get("source", ""),
            "published_at": meta.get("published_at"),
            "authors": json.loads(meta.get("authors", "[]")),
            "captions": json.loads(meta.get("captions", "[]")),
            "content_hash": meta.get("content_hash"),
            "chunks": int(meta.get("n_chunks", 0)),
        }
        if body is not None:
            record["body"] = body
        return record

    def list_articles(self, offset: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        got = self.articles.get(
            where={"kind": "article"}, include=["metadatas"], offset=offset, limit=limit
        )
        return [self._record(i, m, None) for i, m in zip(got["ids"], got["metadatas"])]

    def count_articles(self) -> int:
        return self.articles.count() - (1 if self.generation() else 0)

    def count_chunks(self) -> int:
        return self.chunks.count()

    def article_records(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records of those articles that exist, by id (one round trip)."""
        if not ids:
            return {}
        got = self.articles.get(ids=list(ids), include=["metadatas"])
        return {i: self._record(i, m, None) for i, m in zip(got["ids"], got["metadatas"])}

    def write_article(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace every chunk of one article and then its record."""
        previous = self.article_record(article.id)
        self.write_articles([ArticleWrite(article, chunks, vectors, previous["chunks"] if previous else 0)])

    def write_articles(self, writes: Sequence["ArticleWrite"]) -> None:
        """Replace the chunks of several articles, then write their records.

        A few large calls instead of three per article: every Chroma write
        call has a fixed cost (about 30 ms here) whatever its size. Old chunks
        are deleted by id (their count is in the previous record) rather than
        by a metadata filter, which would scan the whole collection. Records
        go last, so a killed ingest leaves at worst chunks that the re-run
        overwrites (upsert) before writing the record.
        """
        stale = [f"{w.article.id}:{n}" for w in writes for n in range(w.previous_chunks)]
        for ids in _batches(stale, self._max_batch):
            self.chunks.delete(ids=ids)
        replaced = [w.article.id for w in writes if w.previous_chunks]
        if replaced:  # a metadata scan, but only for articles that changed
            self.sentences.delete(where={"article_id": {"$in": replaced}})
        sentence_rows = [
            (w.article, sentence_id(c.id, i), text, vector)
            for w in writes for c, vectors in zip(w.chunks, w.sentence_vectors)
            for i, (text, vector) in enumerate(zip(chunk_sentences(c.text), vectors))
        ]
        for batch in _batches(sentence_rows, self._max_batch):
            self.sentences.upsert(
                ids=[i for _, i, _, _ in batch], embeddings=[v.tolist() for _, _, _, v in batch],
                documents=[t for _, _, t, _ in batch],
                metadatas=[_without_none({"article_id": a.id, "source": a.source, "published_ts": a.timestamp})
                           for a, _, _, _ in batch],
            )
        rows = [(w.article, c, v) for w in writes for c, v in zip(w.chunks, w.vectors)]
        for batch in _batches(rows, self._max_batch):
            self.chunks.upsert(
                ids=[c.id for _, c, _ in batch],
                embeddings=[v.tolist() for _, _, v in batch],
                documents=[c.text for _, c, _ in batch],
                metadatas=[self._chunk_meta(a, c) for a, c, _ in batch],
            )
        self.articles.upsert(
            ids=[w.article.id for w in writes] + [_GENERATION_ID],
            embeddings=[_NO_VECTOR] * (len(writes) + 1),
            documents=[w.article.body for w in writes] + [""],
            metadatas=[self._article_meta(w.article, len(w.chunks)) for w in writes] + [_new_generation()],
        )

    @staticmethod
    def _article_meta(article: Article, n_chunks: int) -> dict[str, Any]:
        return _without_none({
            "kind": "article", "title": article.title, "url": article.url,
            "source": article.source, "published_at": article.published_at,
            "published_ts": article.timestamp, "authors": json.dumps(list(article.authors)),
            "captions": json.dumps(list(article.captions)),
            "content_hash": article.content_hash, "n_chunks": n_chunks,
        })

    @staticmethod
    def _chunk_meta(article: Article, chunk: Chunk) -> dict[str, Any]:
        return _without_none({
            "article_id": article.id, "n": chunk.n, "start": chunk.start, "end": chunk.end,
            "title": article.title, "url": article.url, "source": article.source,
            "published_at": article.published_at, "published_ts": article.timestamp,
        })

    def delete_article(self, article_id: str) -> bool:
        """Remove the article and all its chunks; False when it was not there."""
        existed = self.article_record(article_id) is not None
        self.chunks.delete(where={"article_id": article_id})
        self.sentences.delete(where={"article_id": article_id})
        if existed:
            self.articles.delete(ids=[article_id])
            self._bump_generation()
        return existed

    # -- generation marker --------------------------------------------------
    def generation(self) -> str | None:
        got = self.articles.get(ids=[_GENERATION_ID], include=["metadatas"])
        return got["metadatas"][0]["value"] if got["ids"] else None

    def _bump_generation(self) -> None:
        self.articles.upsert(ids=[_GENERATION_ID], embeddings=[_NO_VECTOR], metadatas=[_new_generation()])

    # -- chunks -----------------------------------------------------------
    def nearest(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """Ids of the nearest chunks with their cosine similarity, best first.

        Ids and distances only: fetching documents and metadata is most of a
        query's cost, and retrieval already holds every chunk in memory for
        BM25 (``get_chunks`` covers the rest).
        """
        got = self.chunks.query(
            query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"],
        )
        return [(i, 1.0 - float(dist)) for i, dist in zip(got["ids"][0], got["distances"][0])]

    def nearest_sentences(self, vector: np.ndarray, n: int, where: dict | None = None) -> list[tuple[str, float]]:
        """Ids of the nearest sentences (``sentence_id`` form) with their cosine similarity, best first."""
        got = self.sentences.query(
            query_embeddings=[vector.tolist()], n_results=n, where=where or None, include=["distances"],
        )
        return [(i, 1.0 - float(dist)) for i, dist in zip(got["ids"][0], got["distances"][0])]

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored sentence vectors by id (ids not stored are left out)."""
        if not ids:
            return {}
        got = self.sentences.get(ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]:
        if not ids:
            return []
        got = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {i: StoredChunk.from_chroma(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}
        return [by_id[i] for i in ids if i in by_id]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk, paged (for rebuilding the keyword index)."""
        offset = 0
        while True:
            got = self.chunks.get(include=["documents", "metadatas"], offset=offset, limit=_PAGE)
            if not got["ids"]:
                return
            for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]):
                yield StoredChunk.from_chroma(i, d, m)
            offset += len(got["ids"])
