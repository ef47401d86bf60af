"""Ingest time of real sets, stage by stage: one RealTimeQA week and N generated demo-sized articles,
each into a fresh embedded index, in this process (models loaded first, so no process start is timed).

    .venv/bin/python -m evals.ingest_timing --realtimeqa ../shared/data/realtimeqa/2025 --generated 1000

``bench --quick`` compares ingest with its raw components on a small generated corpus; this
times the sizes an archive user meets, with the pipeline's own stages (``IngestReport.seconds``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from evals.bench_corpus import write_corpus
from evals.realtimeqa import find_weeks, load_week
from evals.runner import temporary_services
from index.article import Article
from index.loaders import load_paths
from qa_service.services import Services
from qa_service.settings import Settings


def time_ingest(models: Services, articles: Sequence[Article]) -> dict:
    with temporary_services(models) as services:
        started = time.perf_counter()
        report = services.ingestor.ingest(articles)
        seconds = time.perf_counter() - started
    return {"articles": len(articles), "added": report.added, "chunks": report.chunks,
            "characters_mean": round(statistics.mean(len(a.body) for a in articles)), "seconds": round(seconds, 1),
            "stages_s": {name: round(s, 1) for name, s in report.seconds.items()},
            "load_average": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realtimeqa", type=Path, help="a RealTimeQA folder: its first week is timed")
    parser.add_argument("--generated", type=int, default=0, help="also this many generated articles")
    args = parser.parse_args()
    results = {}
    with Services(Settings()) as models:
        models.embedder.warm_up()
        if args.realtimeqa:
            week = load_week(find_weeks(args.realtimeqa)[0])
            results[f"realtimeqa {week.name}"] = time_ingest(models, week.articles)
        if args.generated:
            with tempfile.TemporaryDirectory() as scratch:
                write_corpus(Path(scratch), args.generated)
                results[f"generated {args.generated}"] = time_ingest(models, load_paths([Path(scratch)]).articles)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
