"""The ingest pipeline: articles -> chunks -> embeddings -> store, skipping unchanged ones."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from index.article import Article, Chunk
from index.catalog import ArticleRecord
from index.chunking import Chunker
from index.embeddings import Embedder
from index.loaders import LoadFailure
from index.sentences import split_sentences
from index.store import ArticleWrite, ChromaStore

# Articles are looked up, embedded and written in groups: every Chroma call
# costs ~30 ms whatever its size, and the encoder pads less when it can sort
# many chunks by length. A killed ingest redoes at most one group.
_GROUP_ARTICLES = 128


@dataclass
class IngestReport:
    """Counts of one ingest run; ``failed`` names each bad file or record and why."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[LoadFailure] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "chunks": self.chunks, "article_ids": self.article_ids,
            "failed": [{"name": f.path, "reason": f.reason} for f in self.failed],
        }


class Ingestor:
    """Writes articles into a store; re-ingesting an unchanged article writes nothing."""

    def __init__(self, chunker: Chunker, embedder: Embedder, store: ChromaStore) -> None:
        self.chunker = chunker
        self.embedder = embedder
        self.store = store

    def ingest(
        self,
        articles: Iterable[Article],
        report: IngestReport | None = None,
        on_article: Callable[[Article], None] | None = None,
    ) -> IngestReport:
        report = report or IngestReport()
        unique = _dedupe(articles)
        for start in range(0, len(unique), _GROUP_ARTICLES):
            group = unique[start : start + _GROUP_ARTICLES]
            previous = self.store.article_records([a.id for a in group])
            pending: list[tuple[Article, list[Chunk], ArticleRecord | None]] = []
            for article in group:
                report.article_ids.append(article.id)
                old = previous.get(article.id)
                # Unchanged: this version would get the stored record; a metadata edit
                # (title, date, ...) is a change even when the body is the same.
                if old and old == ArticleRecord.of(article, old.chunks):
                    report.unchanged += 1
                    if on_article:
                        on_article(article)
                else:
                    pending.append((article, self.chunker.chunk(article), old))
            self._write(pending, report, on_article)
        return report

    def _write(self, pending, report: IngestReport, on_article) -> None:
        if not pending:
            return
        chunks_all = [c for _, chunks, _ in pending for c in chunks]
        sentences = [split_sentences(c.text) for c in chunks_all]
        # One encode call for chunks and their sentences: the encoder sorts them all by length.
        vectors = self.embedder.embed([c.text for c in chunks_all] + [t for group in sentences for t in group])
        chunk_vectors, sentence_vectors = vectors[: len(chunks_all)], vectors[len(chunks_all):]
        per_chunk, offset = [], 0
        for group in sentences:
            per_chunk.append(sentence_vectors[offset : offset + len(group)])
            offset += len(group)
        writes, offset = [], 0
        for article, chunks, old in pending:
            writes.append(ArticleWrite(article, chunks, chunk_vectors[offset : offset + len(chunks)],
                                       old.chunks if old else 0, per_chunk[offset : offset + len(chunks)],
                                       sentences[offset : offset + len(chunks)]))
            offset += len(chunks)
        self.store.write_articles(writes)
        for article, chunks, old in pending:
            report.chunks += len(chunks)
            if old:
                report.updated += 1
            else:
                report.added += 1
            if on_article:
                on_article(article)


def _dedupe(articles: Iterable[Article]) -> Sequence[Article]:
    """The last version of each article id in one batch wins."""
    by_id: dict[str, Article] = {}
    for article in articles:
        by_id.pop(article.id, None)
        by_id[article.id] = article
    return list(by_id.values())
