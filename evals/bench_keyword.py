"""Keyword search at scale: matching every query word against matching the rare ones (``index.keyword``).

An N-chunk keyword index of news text (the texts of ``qa-service bench --scale``: a RealTimeQA
pool's stories recombined by paragraph, or without a pool the generated bank) is written straight
into an FTS5 file: no Chroma and no vectors, so 100,000 chunks take about half a minute. The pool's
questions are searched for the candidates retrieval asks for (20), unfiltered and with a one-of-16
source filter, by two connections to that file: one matching every word (the query before the
rare-word strategy) and one with the index's default ``MATCH_ROWS``, alternating query by query so
that the machine's load moves both alike. Reported: p50/p95 of each and their ratio, and how close
the rare-word results are to BM25 over every word: the share of its top 5 (and top 20) that score
at least the exact ranking's fifth (twentieth), ties counting as kept.

With ``--gold`` and ``--corpus``, the gold set's articles are added to the index (chunked as the
ingest cuts them) and its questions asked of both: keyword recall@5 and MRR among N distractor
chunks, as ``evals.retrieval_recall`` counts them.

    .venv/bin/python -m evals.bench_keyword --chunks 100000 --pool ../shared/data/realtimeqa/2025 \
        --gold evals/gold/demo.jsonl --corpus index/demo_corpus
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from evals.bench_corpus import topics
from evals.bench_scale import SOURCES, news_pool
from evals.bench_search import N_TOPICS, SyntheticIndex, TopicText, source_name
from evals.bench_stats import ratio, spread, timed
from evals.gold import GoldItem, load_gold
from evals.metrics import first_hit_rank, mrr, recall_at_k
from index.article import Article, chunk_id
from index.chunking import Chunker
from index.keyword import FtsKeywords, KeywordFilter
from index.loaders import load_paths
from index.store import StoredChunk
from qa_service.models import Filters
from qa_service.retrieval import CANDIDATES_PER_PASSAGE
from qa_service.settings import Settings

TOP_K = 5
WANTED = TOP_K * CANDIDATES_PER_PASSAGE
_WRITE_BATCH = 5000
# Scores equal to this precision are ties (bm25() and the re-scoring sum the same terms in another order).
_TIE = 1e-9


def bench_keyword(n_chunks: int, pool_dir: Path | None, n_queries: int = 50, keep: Path | None = None,
                  gold: tuple[Sequence[Article], Sequence[GoldItem]] | None = None) -> dict:
    """Write an ``n_chunks`` keyword index and time both strategies on it (the file is removed unless
    ``keep`` names one; an existing ``keep`` file is searched as it is); with ``gold`` (articles and
    questions), their recall too."""
    pool: list[TopicText] = list(news_pool(pool_dir)) if pool_dir else list(topics(N_TOPICS, seed=3))
    directory = Path(tempfile.mkdtemp(prefix="qa-bench-keyword-"))
    path = keep or directory / "keywords.sqlite3"
    try:
        write_s = 0.0 if path.exists() else timed(lambda: write_chunks(path, pool, n_chunks))[1] / 1000
        rng = random.Random(5)
        queries = [rng.choice(pool).question(rng) for _ in range(n_queries)]
        every, rare = (FtsKeywords(path, StoredChunk, lambda: (), match_rows=m) for m in (None, -1))
        rare = FtsKeywords(path, StoredChunk, lambda: ())
        try:
            result = {"chunks": n_chunks, "texts": "news pool" if pool_dir else "generated bank",
                      "write_s": round(write_s, 1), "queries": n_queries,
                      "unfiltered": _compare(every, rare, queries, None),
                      "source_filter": _compare(every, rare, queries, KeywordFilter(sources=(source_name(1),)))}
            if gold:
                result["gold"] = _gold_recall(every, rare, *gold)
            return result
        finally:
            every.close()
            rare.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def write_chunks(path: Path, pool: list[TopicText], n_chunks: int) -> None:
    """The chunks ``bench --scale`` writes (same seed and sources), keyword rows only."""
    keywords = FtsKeywords(path, StoredChunk, lambda: ())
    try:
        batch: list[StoredChunk] = []
        for chunk in _chunks(pool, n_chunks):
            batch.append(chunk)
            if len(batch) == _WRITE_BATCH:
                keywords.add(batch)
                batch = []
        keywords.add(batch)
    finally:
        keywords.close()


def _chunks(pool: list[TopicText], n_chunks: int) -> Iterator[StoredChunk]:
    # The vectors SyntheticIndex draws beside the texts are not used: one dimension keeps them cheap.
    articles = SyntheticIndex(None, np.zeros((len(pool), 1), np.float32), pool, sources=SOURCES)  # type: ignore[arg-type]
    written = 0
    while written < n_chunks:
        for article, chunk, _ in articles.article():
            yield StoredChunk.of(article, chunk)
            written += 1


def _compare(every: FtsKeywords, rare: FtsKeywords, queries: list[str], where: KeywordFilter | None) -> dict:
    for q in queries[:3]:  # the page cache and the rare side's document frequencies
        every.search(q, WANTED, where)
        rare.search(q, WANTED, where)
    times: dict[str, list[float]] = {"every_word": [], "rare_words": []}
    kept: dict[str, list[float]] = {"top5": [], "top20": []}
    for q in queries:
        exact, ms = timed(partial(every.search, q, WANTED, where))
        times["every_word"].append(ms)
        pruned, ms = timed(partial(rare.search, q, WANTED, where))
        times["rare_words"].append(ms)
        for name, k in (("top5", TOP_K), ("top20", WANTED)):
            if len(exact) >= k:
                kept[name].append(sum(s >= exact[k - 1][1] - _TIE for _, s in pruned[:k]) / k)
    spreads = {name: spread(values) for name, values in times.items()}
    return {**{f"{name}_ms": values for name, values in spreads.items()},
            "ratio_p50": ratio(spreads["rare_words"]["p50"], spreads["every_word"]["p50"]),
            "ratio_p95": ratio(spreads["rare_words"]["p95"], spreads["every_word"]["p95"]),
            **{f"{name}_kept": round(sum(v) / len(v), 3) if v else None for name, v in kept.items()}}


def _gold_recall(every: FtsKeywords, rare: FtsKeywords, articles: Sequence[Article],
                 items: Sequence[GoldItem]) -> dict:
    """Keyword recall@5 and MRR of both strategies on ``items`` once ``articles`` are in the index."""
    chunker = Chunker(Settings().chunk_size, Settings().chunk_overlap)
    known = every.chunks([chunk_id(a.id, 0) for a in articles])
    every.add([StoredChunk.of(a, c) for a in articles if chunk_id(a.id, 0) not in known for c in chunker.chunk(a)])
    ranks: dict[str, list[int | None]] = {"every_word": [], "rare_words": []}
    for item in items:
        if item.answers:
            quotes = [e.quote for e in item.evidence]
            where = Filters().keyword_filter(item.as_of)
            for name, keywords in (("every_word", every), ("rare_words", rare)):
                texts = [chunk.text for chunk, _ in keywords.search(item.question, TOP_K, where)]
                ranks[name].append(first_hit_rank(texts, quotes, item.answers))
    return {"questions": len(ranks["every_word"]),
            **{f"{name}_recall_at_5": recall_at_k(r, TOP_K) for name, r in ranks.items()},
            **{f"{name}_mrr": mrr(r) for name, r in ranks.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--pool", type=Path, help="a RealTimeQA directory of weekly files (default: generated)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="keep the index in this file (searched as it is if it exists)")
    parser.add_argument("--gold", type=Path, help="a gold JSONL file whose articles (--corpus) join the index")
    parser.add_argument("--corpus", type=Path, help="the articles the gold file is asked over")
    args = parser.parse_args()
    if (args.gold is None) != (args.corpus is None):
        parser.error("--gold and --corpus go together")
    gold = (load_paths([args.corpus]).articles, load_gold(args.gold)) if args.gold else None
    print(json.dumps(bench_keyword(args.chunks, args.pool, args.queries, args.keep, gold), indent=2))


if __name__ == "__main__":
    main()
