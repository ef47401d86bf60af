"""Search latency of /v1/search's code path at growing index sizes, against raw Chroma.

The index is filled with synthetic chunks written straight into the chunk
collection: texts from the generated news bank, vectors drawn around the real
embedding of each chunk's topic (fixed seed), so a question about a topic finds
close vectors as it would on real data. Encoding 100k real chunks would take
half an hour here and measure the embedder, not search.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np

from evals.bench_corpus import topics
from evals.bench_stats import ratio, spread, timed
from evals.runner import temporary_services
from index.article import Article, Chunk
from index.keyword import KeywordFilter
from index.sentences import encode_spans, sentence_spans
from index.store import ArticleWrite, ChromaStore, StoredChunk, sentence_id
from qa_service.retrieval import CANDIDATES_PER_PASSAGE
from qa_service.services import Services

TOP_K = 5
CHUNKS_PER_ARTICLE = 4
N_TOPICS = 64
# Noise of norm ~0.8 around a unit topic vector: cosine to the topic ~0.75,
# between two chunks of a topic ~0.6, like paragraphs of related stories.
NOISE_NORM = 0.8
WARM_UP_QUERIES = 3


class TopicText(Protocol):
    """What synthetic articles are about: the generated bank's topics, or a news pool's stories."""

    def describe(self) -> str: ...

    def question(self, rng: random.Random) -> str: ...

    def passage(self, rng: random.Random) -> str: ...

    def headline(self, n: int) -> str: ...


@dataclass
class SyntheticIndex:
    """Writes deterministic synthetic articles into a store, continuing where it left off;
    article ``n`` comes from one of ``sources`` sources (so a source filter keeps 1/``sources``).

    With ``sentences_per_chunk``, each chunk also gets that many sentence rows (the index's
    second collection, as ingest writes them: a real week has about 6 a chunk): its text cut into
    as many pieces at spaces, each with a vector drawn around the chunk's as the chunk's is drawn
    around its topic (another generator: the chunks are the same with or without them)."""

    store: ChromaStore
    centres: np.ndarray
    pool: Sequence[TopicText]
    seed: int = 11
    sources: int = 1
    sentences_per_chunk: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._np = np.random.default_rng(self.seed)
        self._sentence_np = np.random.default_rng(self.seed + 1)
        self._articles = 0

    def grow_to(self, n_chunks: int) -> float:
        """Add articles until the store holds ``n_chunks`` chunks; returns the write time in ms.

        Chunks go in with large ``add`` calls, their keyword rows beside them; the
        last article goes through ``write_article`` so its record exists and the
        generation marker moves.
        """
        missing = n_chunks - self.store.count_chunks()
        articles = [self.article() for _ in range(missing // CHUNKS_PER_ARTICLE)]
        if not articles:
            return 0.0
        step = self.store.client.get_max_batch_size() // CHUNKS_PER_ARTICLE

        def write() -> None:
            for i in range(0, len(articles) - 1, step):
                batch = [part for a in articles[i : min(i + step, len(articles) - 1)] for part in a]
                self.store.chunks.add(
                    ids=[c.id for _, c, _ in batch], embeddings=np.stack([v for _, _, v in batch]),
                    documents=[c.text for _, c, _ in batch],
                    metadatas=[StoredChunk.of(a, c).chroma_metadata() for a, c, _ in batch],
                )
                self._add_sentences(batch)
                self.store.keywords.add([StoredChunk.of(a, c) for a, c, _ in batch])
            last = articles[-1]
            texts, vectors = zip(*(self.sentences(c, v) for _, c, v in last), strict=True)
            self.store.write_articles([ArticleWrite(
                last[0][0], [c for _, c, _ in last], np.stack([v for _, _, v in last]),
                sentence_vectors=vectors if self.sentences_per_chunk else (),
                sentences=texts if self.sentences_per_chunk else ())])

        return timed(write)[1]

    def _add_sentences(self, batch: list[tuple[Article, Chunk, np.ndarray]]) -> None:
        if not self.sentences_per_chunk:
            return
        rows = [(a, sentence_id(c.id, i), text, vector) for a, c, v in batch
                for i, (text, vector) in enumerate(zip(*self.sentences(c, v), strict=True))]
        size = self.store.client.get_max_batch_size()
        for i in range(0, len(rows), size):
            part = rows[i : i + size]
            self.store.sentences.add(
                ids=[r[1] for r in part], embeddings=np.stack([r[3] for r in part]), documents=[r[2] for r in part],
                metadatas=[{k: v for k, v in {"article_id": a.id, "source": a.source, "published_ts": a.timestamp}
                            .items() if v is not None} for a, _, _, _ in part],
            )

    def sentences(self, chunk: Chunk, vector: np.ndarray) -> tuple[list[str], np.ndarray]:
        """A chunk's ``sentences_per_chunk`` synthetic sentences: its text in as many pieces, and
        their vectors around the chunk's (nothing without ``sentences_per_chunk``)."""
        k = self.sentences_per_chunk
        if not k:
            return [], np.zeros((0, len(vector)), np.float32)
        words = chunk.text.split(" ")
        cuts = [round(len(words) * j / k) for j in range(k + 1)]
        texts = [" ".join(words[cuts[j] : cuts[j + 1]]) for j in range(k)]
        noise = self._sentence_np.standard_normal((k, len(vector))).astype(np.float32)
        vectors = vector + noise * (NOISE_NORM / np.sqrt(len(vector)))
        return texts, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def article(self) -> list[tuple[Article, Chunk, np.ndarray]]:
        """One article of CHUNKS_PER_ARTICLE chunks on one topic, each chunk with its vector."""
        t = self._rng.randrange(len(self.pool))
        texts = [self.pool[t].passage(self._rng) for _ in range(CHUNKS_PER_ARTICLE)]
        body = "\n\n".join(texts)
        self._articles += 1
        article = Article.create(
            title=self.pool[t].headline(self._articles), body=body,
            url=f"https://news.example.com/{self._articles}", source=source_name(self._articles % self.sources),
            published_at=f"2025-{1 + self._articles % 12:02d}-{1 + self._articles % 28:02d}",
        )
        noise = self._np.standard_normal((CHUNKS_PER_ARTICLE, self.centres.shape[1])).astype(np.float32)
        vectors = self.centres[t] + noise * (NOISE_NORM / np.sqrt(self.centres.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        out, start = [], 0
        for n, text in enumerate(texts):
            # Its sentences stored as the chunker stores them (a spaCy cut: ~1.3 ms a chunk, 20 min at 1M),
            # so that search reads them as it does an ingested chunk's.
            spans = encode_spans(sentence_spans(text))
            chunk = Chunk(article.id, n, text, start, start + len(text), sentence_spans=spans)
            out.append((article, chunk, vectors[n]))
            start += len(text) + 2
        return out


def source_name(n: int) -> str:
    return "bench" if n == 0 else f"bench-{n}"


def bench_search(models: Services, sizes: list[int], n_queries: int) -> dict:
    """p50/p95 of ``retriever.retrieve(q, 5)`` (dense + keyword + fusion) against a raw
    ``collection.query`` of the same embedding, at each size; the time until one more
    article is found by keyword search timed apart."""
    pool = topics(N_TOPICS, seed=3)
    rng = random.Random(5)
    queries = [t.question(rng) for t in (rng.choice(pool) for _ in range(n_queries + WARM_UP_QUERIES))]
    results = {}
    with temporary_services(models) as services:
        index = SyntheticIndex(services.store, models.embedder.embed([t.describe() for t in pool]), pool)
        for size in sizes:
            write_ms = index.grow_to(size)
            results[_label(size)] = {"chunks": services.store.count_chunks(), "write_ms": round(write_ms),
                                     **_measure(services, queries, n_queries),
                                     "new_article_searchable_ms": _new_article_searchable(services, index)}
    return results


def _new_article_searchable(services: Services, index: SyntheticIndex) -> int:
    """From writing one more article (chunks, keyword rows, record) to a keyword search finding it:
    the common case of a live index."""
    def write_and_find() -> None:
        index.grow_to(services.store.count_chunks() + CHUNKS_PER_ARTICLE)
        newest = services.store.list_articles(services.store.count_articles() - 1, 1)[0]
        if not services.keywords.search(newest.title, 1, KeywordFilter(article_ids=(newest.id,))):
            raise RuntimeError(f"the new article {newest.id} is not found by keyword search")
    return round(timed(write_and_find)[1])


def _measure(services: Services, queries: list[str], n_queries: int) -> dict:
    for q in queries[n_queries:]:
        services.retriever.retrieve(q, TOP_K)
    times: dict[str, list[float]] = {"ours": [], "raw": [], "embed": [], "dense": [], "raw_dense": [], "keyword": []}
    relevant = 0
    for q in queries[:n_queries]:
        found, ms = timed(partial(services.retriever.retrieve, q, TOP_K))
        times["ours"].append(ms)
        relevant += found.relevant
        vector, ms = timed(partial(services.embedder.embed_query, q))
        times["embed"].append(ms)
        times["raw"].append(timed(partial(services.store.chunks.query, query_embeddings=[vector], n_results=TOP_K))[1])
        # Our two retrievers alone, with the candidate count retrieve() asks them for, and raw
        # Chroma asked for as many: what our store wrapper adds beyond asking for more.
        wanted = TOP_K * CANDIDATES_PER_PASSAGE
        times["dense"].append(timed(partial(services.store.nearest, vector, wanted))[1])
        raw_dense = timed(partial(services.store.chunks.query, query_embeddings=[vector], n_results=wanted))
        times["raw_dense"].append(raw_dense[1])
        times["keyword"].append(timed(partial(services.keywords.search, q, wanted))[1])
    spreads = {name: spread(values) for name, values in times.items()}
    return {
        "ours_ms": spreads["ours"], "raw_ms": spreads["raw"],
        "parts_p50_ms": {name: spreads[name]["p50"] for name in ("embed", "dense", "raw_dense", "keyword")},
        "relevant_share": round(relevant / n_queries, 2),
        "ratio": ratio(spreads["ours"]["p50"], spreads["raw"]["p50"]),
    }


def _label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)
