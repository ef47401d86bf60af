"""The ingest pipeline: articles -> chunks -> embeddings -> store.

Articles stream through in groups, so memory stays bounded whatever the
input's length. For each group:

1. stored records and content hashes are looked up: an unchanged article and
   an exact duplicate of a stored one (same ``content_hash`` under another
   id) are reported and cost nothing more;
2. each other article is cut into chunks and their sentences within its own
   time bound (``analysis_timeout_s``); one that is not fit to index or runs
   past its bound is listed under ``failed`` with the reason, and the others
   go on;
3. the group's chunks and sentences are embedded in one call, each distinct
   text once (overlapping chunks repeat sentences);
4. under the caller's write lock, records and hashes are read again (another
   writer may have stored some meanwhile) and the group is written. Only this
   step holds the lock, so a small ingest beside a large one waits for one
   group's writes at most, never for its analysis or embedding.

A killed ingest, or one stopped by an embedding server that failed (nothing of
the group being embedded is written), is resumed by running it again: what was
stored is unchanged and skipped before any analysis or embedding.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np

from index.analysis import AnalysisTimeout
from index.article import Article, Chunk, Duplicate
from index.catalog import ArticleRecord
from index.chunking import Chunker
from index.embeddings import Embedder
from index.loaders import LoadFailure
from index.sentences import decode_spans
from index.store import ArticleWrite, ChromaStore

# Articles are looked up, embedded and written in groups: every Chroma call
# costs ~30 ms whatever its size, and the encoder pads less when it can sort
# many chunks by length. A killed ingest redoes at most one group.
_GROUP_ARTICLES = 128
_WORD_CHARACTER = re.compile(r"[^\W_]")


@dataclass
class IngestReport:
    """Counts of one ingest run; ``failed`` names each bad file or record and why.

    ``seconds`` adds up where the time went: ``lookup`` (records and hashes),
    ``analysis`` (chunks and sentences), ``embedding`` and ``writing``.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[LoadFailure] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "chunks": self.chunks, "article_ids": self.article_ids,
            "failed": [{"name": f.path, "reason": f.reason} for f in self.failed],
            "duplicates": [asdict(d) for d in self.duplicates],
        }

    def timed(self, stage: str, since: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since


@dataclass
class _Cut:
    """An article cut for writing: its chunks and each chunk's sentences."""

    article: Article
    chunks: list[Chunk]
    sentences: list[list[str]]


class Ingestor:
    """Writes articles into a store; re-ingesting an unchanged article writes nothing."""

    def __init__(self, chunker: Chunker, embedder: Embedder, store: ChromaStore,
                 analysis_timeout_s: float = 10.0, group_articles: int = _GROUP_ARTICLES) -> None:
        self.chunker = chunker
        self.embedder = embedder
        self.store = store
        self.analysis_timeout_s = analysis_timeout_s
        self.group_articles = group_articles

    def ingest(
        self,
        articles: Iterable[Article],
        report: IngestReport | None = None,
        on_article: Callable[[Article], None] | None = None,
        lock: AbstractContextManager | None = None,
    ) -> IngestReport:
        """Ingest ``articles`` as they come; ``on_article`` is called once each is done with,
        whatever became of it; ``lock`` is held while the store is written."""
        report = report or IngestReport()
        done = on_article or _ignore
        for group in _groups(articles, self.group_articles):
            stored_before = len(report.article_ids)
            todo = self._sorted_out(group, report, done)
            started = time.perf_counter()
            cut = [c for c in (self._cut(a, report, done) for a in todo) if c is not None]
            report.timed("analysis", started)
            vectors = self._embed(cut, report)
            with lock or nullcontext():
                self._write(cut, vectors, report, done)
            # The ids of the group's stored articles, in the order they came.
            stored = set(report.article_ids[stored_before:])
            report.article_ids[stored_before:] = [a.id for a in group if a.id in stored]
        return report

    def _sorted_out(self, group: list[Article], report: IngestReport,
                    done: Callable[[Article], None]) -> list[Article]:
        """The articles of ``group`` to write; the unchanged ones and duplicates are reported."""
        started = time.perf_counter()
        previous = self.store.article_records([a.id for a in group])
        holders = self.store.holders(list({a.content_hash for a in group}))
        report.timed("lookup", started)
        todo = []
        for article in group:
            verdict = _verdict(article, previous.get(article.id), holders)
            if verdict == "write":
                todo.append(article)
            else:
                _count(verdict, article, holders, report)
                done(article)
        return todo

    def _cut(self, article: Article, report: IngestReport, done: Callable[[Article], None]) -> _Cut | None:
        """The article's chunks and their sentences, or None when it failed (reported)."""
        deadline = time.monotonic() + self.analysis_timeout_s
        problem = unfit(article.body)
        if problem is None:
            try:
                chunks = self.chunker.chunk(article, deadline)
                # The chunker's own cut: the vectors line up with the sentences passages show.
                sentences = [[c.text[a:b] for a, b in decode_spans(c.sentence_spans or "")] for c in chunks]
                return _Cut(article, chunks, sentences)
            except AnalysisTimeout:
                problem = (f"cutting it into sentences took over {self.analysis_timeout_s:g} s "
                           "(QA_ANALYSIS_TIMEOUT_S); nothing of it was stored")
        report.failed.append(LoadFailure(f"article {article.title[:60]!r}", problem))
        done(article)
        return None

    def _embed(self, cut: list[_Cut], report: IngestReport) -> dict[str, np.ndarray]:
        """Vectors of every chunk and sentence text of ``cut``, by text, each text embedded once."""
        started = time.perf_counter()
        texts = list(dict.fromkeys(
            text for c in cut for text in [*(k.text for k in c.chunks), *(t for s in c.sentences for t in s)]))
        vectors = dict(zip(texts, self.embedder.embed(texts), strict=True))
        report.timed("embedding", started)
        return vectors

    def _write(self, cut: list[_Cut], vectors: dict[str, np.ndarray], report: IngestReport,
               done: Callable[[Article], None]) -> None:
        """Write what is still to write once the lock is held; report every article of ``cut``."""
        if not cut:
            return
        started = time.perf_counter()
        previous = self.store.article_records([c.article.id for c in cut])
        holders = self.store.holders(list({c.article.content_hash for c in cut}))
        writes, written = [], []
        for c in cut:
            old = previous.get(c.article.id)
            verdict = _verdict(c.article, old, holders)
            if verdict != "write":  # another writer stored it meanwhile
                _count(verdict, c.article, holders, report)
                continue
            writes.append(ArticleWrite(
                c.article, c.chunks, np.array([vectors[k.text] for k in c.chunks]), old.chunks if old else 0,
                [np.array([vectors[t] for t in s]).reshape(len(s), -1) for s in c.sentences], c.sentences))
            written.append((c.article, old is not None))
        self.store.write_articles(writes)
        report.timed("writing", started)
        for write, (article, replaced) in zip(writes, written, strict=True):
            report.article_ids.append(article.id)
            report.chunks += len(write.chunks)
            report.updated += replaced
            report.added += not replaced
        for c in cut:
            done(c.article)


def unfit(body: str) -> str | None:
    """Why ``body`` is no text to index, or None. Half its characters at least must be letters or
    digits: prose is nine tenths; a body of punctuation holds nothing to answer from."""
    visible = len(body) - sum(map(str.isspace, body))
    words = len(_WORD_CHARACTER.findall(body))
    if words * 2 >= visible:
        return None
    return (f"the body is not text: only {words:,} of its {visible:,} characters are letters or digits "
            "(at least half must be)")


def _verdict(article: Article, old: ArticleRecord | None, holders: dict[str, str]) -> str:
    """``unchanged``, ``duplicate`` or ``write``; a written article claims its hash in ``holders``.

    Unchanged: this version would get the stored record (a metadata edit is a change
    even when the body is the same). Duplicate: another article holds the same text,
    and this one's stored version (if any) does not.
    """
    if old and old == ArticleRecord.of(article, old.chunks):
        return "unchanged"
    holder = holders.setdefault(article.content_hash, article.id)
    if holder != article.id and not (old and old.content_hash == article.content_hash):
        return "duplicate"
    return "write"


def _count(verdict: str, article: Article, holders: dict[str, str], report: IngestReport) -> None:
    if verdict == "unchanged":
        report.unchanged += 1
        report.article_ids.append(article.id)
    else:
        report.duplicates.append(Duplicate(article.id, article.title, holders[article.content_hash]))


def _groups(articles: Iterable[Article], size: int) -> Iterator[list[Article]]:
    """Groups of ``size`` distinct ids; within a group the last version of an id wins."""
    group: dict[str, Article] = {}
    for article in articles:
        group.pop(article.id, None)
        group[article.id] = article
        if len(group) == size:
            yield list(group.values())
            group = {}
    if group:
        yield list(group.values())


def _ignore(_: Article) -> None:
    pass
