"""Retrieval recall@5 and MRR on gold questions without the language model: hybrid retrieval
and the keyword index alone, with the keyword search's latency.

    .venv/bin/python -m evals.retrieval_recall --data /tmp/rr-demo --gold evals/gold/demo.jsonl \\
        --corpus index/demo_corpus
    .venv/bin/python -m evals.retrieval_recall --data /tmp/rr-rtqa --realtimeqa ../shared/data/realtimeqa/2025 \\
        --weeks 2

Each set is ingested into its own directory under ``--data`` once; a later run reopens it, so a
keyword index change is compared over the same chunks (and an index written before it is
backfilled on open). A question counts when it has gold answers, as in the eval's retrieval
recall (``evals.metrics.first_hit_rank``).
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from evals.bench_stats import spread
from evals.gold import GoldItem, load_gold
from evals.metrics import first_hit_rank, mrr, recall_at_k
from evals.realtimeqa import load_weeks
from index.article import Article
from index.loaders import load_paths
from qa_service.models import Filters
from qa_service.services import Services
from qa_service.settings import Settings

TOP_K = 5


def keyword_texts(services: Services, item: GoldItem) -> list[str]:
    """The texts of the keyword index's top ``TOP_K`` chunks, filtered as retrieval filters them."""
    hits = services.keywords.search(item.question, TOP_K, Filters().keyword_filter(item.as_of))
    return [chunk.text for chunk, _ in hits]


def measure(services: Services, items: Sequence[GoldItem]) -> dict:
    """recall@5 and MRR of hybrid retrieval and of the keyword index alone; keyword search ms."""
    ranks: dict[str, list[int | None]] = {"hybrid": [], "keyword": []}
    keyword_ms: list[float] = []
    for item in items:
        if not item.answers:
            continue
        quotes = [e.quote for e in item.evidence]
        found = services.retriever.retrieve(item.question, TOP_K, as_of=item.as_of)
        ranks["hybrid"].append(first_hit_rank([p.text for p in found.passages], quotes, item.answers))
        start = time.perf_counter()
        texts = keyword_texts(services, item)
        keyword_ms.append((time.perf_counter() - start) * 1000)
        ranks["keyword"].append(first_hit_rank(texts, quotes, item.answers))
    return {"questions": len(ranks["hybrid"]), "chunks": services.store.count_chunks(),
            **{f"{name}_recall_at_5": recall_at_k(r, TOP_K) for name, r in ranks.items()},
            **{f"{name}_mrr": mrr(r) for name, r in ranks.items()},
            "keyword_ms": spread(keyword_ms)}


def run_set(models: Services, data_dir: Path, articles: Sequence[Article], items: Sequence[GoldItem]) -> dict:
    with models.variant(data_dir=data_dir, chroma_host=None) as services:
        if services.store.count_articles() == 0:
            services.ingestor.ingest(articles)
        return measure(services, items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="directory of the sets' indexes (kept)")
    parser.add_argument("--gold", type=Path, help="a gold JSONL file (with --corpus)")
    parser.add_argument("--corpus", type=Path, help="the articles the gold file is asked over")
    parser.add_argument("--realtimeqa", type=Path, help="a RealTimeQA folder: each week is its own set")
    parser.add_argument("--weeks", type=int, default=1)
    args = parser.parse_args()
    results = {}
    with Services(Settings()) as models:
        if args.gold:
            if args.corpus is None:
                parser.error("--gold needs --corpus")
            corpus = load_paths([args.corpus]).articles
            results[args.gold.stem] = run_set(models, args.data / args.gold.stem, corpus, load_gold(args.gold))
        if args.realtimeqa:
            for week in load_weeks(args.realtimeqa, args.weeks):
                results[week.name] = run_set(models, args.data / week.name, week.articles, week.questions)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
