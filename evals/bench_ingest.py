"""Ingest throughput: our load + ingest path against the raw cost of the same embeddings and writes.

Ours: ``load_paths`` and ``Ingestor.ingest`` on a generated corpus in a fresh
index, with the time of each stage of the pipeline (``IngestReport.seconds``:
lookup, analysis, embedding, writing). Raw: the very texts our index holds
(chunks and their sentences, each distinct text embedded once, as ours does)
through ``SentenceTransformer.encode``, and plain Chroma adds of the same rows:
what any ingest of these vectors must pay. The sentence vectors, which the
reader added to ingest, are also timed apart on the raw side.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from evals.bench_corpus import write_corpus
from evals.bench_stats import ratio, timed
from evals.runner import temporary_services
from index.embeddings import SentenceTransformerEmbedder
from index.loaders import load_paths
from index.sentences import sentence_spans
from index.store import make_client
from qa_service.services import Services

# The batch size the design notes measured as fastest for MiniLM on this machine.
RAW_BATCH = 16
STAGES = ("lookup", "analysis", "embedding", "writing")


def bench_ingest(models: Services, n_articles: int) -> dict:
    """Seconds, articles/s and chunks/s of ``qa-service ingest``'s work (minus process start) on
    a generated corpus in a fresh index, and of the raw components for the same vectors."""
    scratch = Path(tempfile.mkdtemp(prefix="qa-bench-ingest-"))
    try:
        write_corpus(scratch / "corpus", n_articles)
        with temporary_services(models) as services:
            loaded, load_ms = timed(lambda: load_paths([scratch / "corpus"],
                                                       max_file_bytes=models.settings.max_file_bytes))
            report, ingest_ms = timed(lambda: services.ingestor.ingest(loaded.articles))
            chunker = services.ingestor.chunker
            chunks = [c.text for a in loaded.articles for c in chunker.chunk(a)]
        if report.chunks != len(chunks) or report.added != n_articles:
            raise RuntimeError(f"ingest wrote {report.added} articles / {report.chunks} chunks, "
                               f"expected {n_articles} / {len(chunks)}")
        sentences = [text[a:b] for text in chunks for a, b in sentence_spans(text)]
        raw = _raw_ingest(models, chunks, sentences, scratch / "raw-index")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ours_s = (load_ms + ingest_ms) / 1000
    raw_s = sum(raw.values()) / 1000
    stages_ms = {stage: round(report.seconds.get(stage, 0.0) * 1000) for stage in STAGES}
    return {
        "articles": n_articles, "chunks": len(chunks), "sentences": len(sentences),
        "ours": {
            "seconds": round(ours_s, 2), "load_ms": round(load_ms), "ingest_ms": round(ingest_ms),
            "stages_ms": {**stages_ms, "rest": round(ingest_ms - sum(stages_ms.values()))},
            "articles_per_s": round(n_articles / ours_s, 1), "chunks_per_s": round(len(chunks) / ours_s, 1),
        },
        "raw": {
            "seconds": round(raw_s, 2), **{name: round(ms) for name, ms in raw.items()},
            "articles_per_s": round(n_articles / raw_s, 1), "chunks_per_s": round(len(chunks) / raw_s, 1),
        },
        "ratio": ratio(ours_s, raw_s),
    }


def _raw_ingest(models: Services, chunks: list[str], sentences: list[str], path: Path) -> dict[str, float]:
    """Milliseconds of raw SentenceTransformer.encode (batch 16) of the distinct chunk texts, then of the
    other distinct sentence texts, and of raw adds of every chunk row and every sentence row."""
    embedder = models.embedder
    if not isinstance(embedder, SentenceTransformerEmbedder):
        raise TypeError(f"the raw ingest baseline is sentence-transformers; this embedder is {type(embedder).__name__}")
    model = embedder.model  # the very model our ingest used, so only the plumbing differs

    def encode(texts: list[str]):
        return model.encode(texts, batch_size=RAW_BATCH, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)

    chunk_texts = list(dict.fromkeys(chunks))
    sentence_texts = list(dict.fromkeys(sentences).keys() - set(chunk_texts))
    chunk_vectors, chunk_encode_ms = timed(lambda: encode(chunk_texts))
    sentence_vectors, sentence_encode_ms = timed(lambda: encode(sentence_texts))
    vectors = {**dict(zip(chunk_texts, chunk_vectors, strict=True)),
               **dict(zip(sentence_texts, sentence_vectors, strict=True))}
    client = make_client(path=str(path))
    try:
        step = client.get_max_batch_size()

        def add_all(name: str, texts: list[str]) -> None:
            collection = client.create_collection(name)
            for i in range(0, len(texts), step):
                part = texts[i : i + step]
                collection.add(ids=[str(j) for j in range(i, i + len(part))], embeddings=[vectors[t] for t in part],
                               documents=part)

        _, chunk_add_ms = timed(lambda: add_all("chunks", chunks))
        _, sentence_add_ms = timed(lambda: add_all("sentences", sentences))
    finally:
        client.close()
    return {"chunk_encode_ms": chunk_encode_ms, "chunk_add_ms": chunk_add_ms,
            "sentence_encode_ms": sentence_encode_ms, "sentence_add_ms": sentence_add_ms}
