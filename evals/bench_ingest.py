"""Ingest throughput: our load + ingest path against raw encode + raw Chroma add."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evals.bench_corpus import write_corpus
from evals.bench_stats import ratio, timed
from evals.runner import temporary_services
from index.embeddings import Embedder, SentenceTransformerEmbedder
from index.loaders import load_paths
from index.store import make_client
from qa_service.services import Services

# The batch size the design notes measured as fastest for MiniLM on this machine.
RAW_BATCH = 16


def bench_ingest(models: Services, n_articles: int) -> dict:
    """Articles/s and chunks/s of ``qa-service ingest``'s work (minus process start) on a
    generated corpus in a fresh index, and the same chunk texts through the raw components."""
    scratch = Path(tempfile.mkdtemp(prefix="qa-bench-ingest-"))
    try:
        write_corpus(scratch / "corpus", n_articles)
        meter = _MeteredEmbedder(models.embedder)
        with temporary_services(models, embedder=meter) as services:
            loaded, load_ms = timed(lambda: load_paths([scratch / "corpus"],
                                                       max_file_bytes=models.settings.max_file_bytes))
            report, ingest_ms = timed(lambda: services.ingestor.ingest(loaded.articles))
            chunker = services.ingestor.chunker
            # Chunking once more, outside the timed ingest: the raw side's texts and chunking's share of ours.
            chunks, chunk_ms = timed(lambda: [c for a in loaded.articles for c in chunker.chunk(a)])
        if report.chunks != len(chunks) or report.added != n_articles:
            raise RuntimeError(f"ingest wrote {report.added} articles / {report.chunks} chunks, "
                               f"expected {n_articles} / {len(chunks)}")
        raw = _raw_ingest(models, [c.text for c in chunks], scratch / "raw-index")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ours_s = (load_ms + ingest_ms) / 1000
    raw_s = (raw["encode_ms"] + raw["add_ms"]) / 1000
    return {
        "articles": n_articles,
        "chunks": len(chunks),
        "ours": {
            "seconds": round(ours_s, 2), "load_ms": round(load_ms), "ingest_ms": round(ingest_ms),
            "chunking_ms": round(chunk_ms), "encode_ms": round(meter.ms),
            # What is neither loading, chunking nor encoding: mostly the per-article store calls.
            "store_and_rest_ms": round(ingest_ms - meter.ms - chunk_ms),
            "articles_per_s": round(n_articles / ours_s, 1), "chunks_per_s": round(len(chunks) / ours_s, 1),
        },
        "raw": {
            "seconds": round(raw_s, 2), "encode_ms": round(raw["encode_ms"]), "add_ms": round(raw["add_ms"]),
            "articles_per_s": round(n_articles / raw_s, 1), "chunks_per_s": round(len(chunks) / raw_s, 1),
        },
        "ratio": ratio(ours_s, raw_s),
    }


class _MeteredEmbedder:
    """Passes calls through to an embedder, adding up the time spent in ``embed``."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id, self.dim = inner.model_id, inner.dim
        self.ms = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors, ms = timed(lambda: self.inner.embed(texts))
        self.ms += ms
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


def _raw_ingest(models: Services, texts: list[str], path: Path) -> dict[str, float]:
    """Raw SentenceTransformer.encode (batch 16) plus raw add into a plain, default collection."""
    embedder = models.embedder
    if not isinstance(embedder, SentenceTransformerEmbedder):
        raise TypeError(f"the raw ingest baseline is sentence-transformers; this embedder is {type(embedder).__name__}")
    model = embedder.model  # the very model our ingest used, so only the plumbing differs
    vectors, encode_ms = timed(lambda: model.encode(
        texts, batch_size=RAW_BATCH, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False,
    ))
    client = make_client(path=str(path))
    try:
        collection = client.create_collection("raw")
        step = client.get_max_batch_size()

        def add_all() -> None:
            for i in range(0, len(texts), step):
                collection.add(ids=[str(j) for j in range(i, min(i + step, len(texts)))],
                               embeddings=vectors[i : i + step], documents=texts[i : i + step])

        _, add_ms = timed(add_all)
    finally:
        client.close()
    return {"encode_ms": encode_ms, "add_ms": add_ms}
