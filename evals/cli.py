"""``qa-service eval``: score a gold set or RealTimeQA weeks, write the report, or compare two.

Exit codes: 0 when the run finished (questions that failed are recorded in the
report, not fatal), 2 for bad arguments or unusable input (missing or
malformed gold file, missing corpus, unreadable reports to compare).
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evals.gold import GoldError, load_gold
from evals.metrics import aggregate
from evals.realtimeqa import ANSWERABLE, RealTimeQAError, Week, load_weeks, run_weeks
from evals.report import _fmt, _rounded, _table, compare_reports, format_comparison, write_report
from evals.runner import evaluate, progress_bar, temporary_services
from index.loaders import load_paths
from index.store import EmbeddingModelMismatch
from qa_service.cli import ingest_with_progress
from qa_service.services import Services
from qa_service.settings import Settings

console = Console(stderr=True)
out = Console(highlight=False)


class UsageError(ValueError):
    """Bad arguments or unusable input: exit code 2."""


def run_eval_command(
    settings: Settings, gold_args: Sequence[str], *, corpus: Sequence[Path] = (), report: Path,
    top_k: int | None = None, realtimeqa: Path | None = None, weeks: int | None = None,
    limit: int | None = None,
) -> int:
    """Run the ``eval`` subcommand; returns its exit code."""
    try:
        if list(gold_args[:1]) == ["compare"]:
            return _compare(gold_args[1:], corpus, realtimeqa)
        if realtimeqa is not None:
            if gold_args or corpus:
                raise UsageError("--realtimeqa takes no GOLD file and no --corpus (each week is its own corpus)")
            return _realtimeqa(settings, realtimeqa, report, top_k or settings.top_k, weeks, limit)
        if weeks is not None:
            raise UsageError("--weeks only applies with --realtimeqa")
        if len(gold_args) != 1:
            raise UsageError("give one GOLD.jsonl, or --realtimeqa DIR, or: compare A B")
        return _gold(settings, Path(gold_args[0]), list(corpus), report, top_k or settings.top_k, limit)
    except (UsageError, GoldError, RealTimeQAError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2


def _compare(paths: Sequence[str], corpus: Sequence[Path], realtimeqa: Path | None) -> int:
    if len(paths) != 2 or corpus or realtimeqa is not None:
        raise UsageError("usage: qa-service eval compare A B (two report.json files or report folders)")
    try:
        rows = compare_reports(*paths)
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"cannot read the reports to compare: {err}") from None
    out.print(format_comparison(rows), end="", markup=False)
    return 0


def _gold(settings: Settings, gold_path: Path, corpus: list[Path], report: Path, top_k: int,
          limit: int | None) -> int:
    items = load_gold(gold_path)[:limit]
    missing = [str(p) for p in corpus if not p.exists()]
    if missing:
        raise UsageError(f"corpus path not found: {', '.join(missing)}")
    started = time.perf_counter()
    with _gold_services(settings, corpus) as services:
        with progress_bar(len(items)) as progress:
            rows = evaluate(services, items, top_k, progress)
    title = f"{gold_path.name}: {len(items)} questions, top-k {top_k}"
    _finish(report, title, rows, {}, started)
    return 0


@contextmanager
def _gold_services(settings: Settings, corpus: list[Path]) -> Iterator[Services]:
    """Services over a fresh index of ``corpus``, or over the configured index when none is given."""
    if not corpus:
        try:
            services = Services.build(settings)
        except EmbeddingModelMismatch as err:
            raise UsageError(str(err)) from None
        if services.store.count_chunks() == 0:
            raise UsageError(f"the configured index in {settings.data_dir} is empty: pass --corpus PATH "
                             "or run `qa-service ingest` first")
        yield services
        return
    loaded = load_paths(corpus, max_file_bytes=settings.max_file_bytes)
    for failure in loaded.failures:
        console.print(f"[yellow]skipped[/yellow] {escape(f'{failure.path}: {failure.reason}')}",
                      highlight=False, soft_wrap=True)
    if not loaded.articles:
        raise UsageError("the corpus holds no loadable articles")
    with temporary_services(settings) as services:
        ingested = ingest_with_progress(services, loaded)
        console.print(f"Indexed {ingested.added} articles ({ingested.chunks} chunks) into a temporary index")
        yield services


def _realtimeqa(settings: Settings, directory: Path, report: Path, top_k: int, weeks: int | None,
                limit: int | None) -> int:
    loaded = load_weeks(directory, weeks, limit, settings.max_file_bytes)
    _print_weeks(loaded)
    started = time.perf_counter()
    with progress_bar(sum(len(w.questions) for w in loaded)) as progress:
        rows = run_weeks(settings, loaded, top_k, progress)
    answerable = [r for r in rows if ANSWERABLE in r["tags"]]
    title = f"RealTimeQA {directory.name}: {len(loaded)} weeks, {len(rows)} questions, top-k {top_k}"
    _finish(report, title, rows, {"metrics_answerable": (aggregate(answerable), "answerable questions only")},
            started)
    return 0


def _print_weeks(weeks: list[Week]) -> None:
    table = Table(title="RealTimeQA weeks")
    for column in ("week", "questions", "answerable", "articles", "load failures"):
        table.add_column(column, justify="right")
    for w in weeks:
        table.add_row(w.name, str(len(w.questions)), str(w.n_answerable), str(len(w.articles)), str(len(w.failures)))
    console.print(table)


def _finish(report: Path, title: str, rows: list[dict], extra: dict[str, tuple[dict, str]], started: float) -> None:
    """Write the report (with any extra metric blocks) and print the metrics and file paths."""
    metrics = aggregate(rows)
    paths = write_report(report, metrics, rows, title=title)
    if extra:
        _add_metric_blocks(paths, extra)
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("all" if extra else "value", justify="right")
    for _, label in extra.values():
        table.add_column(label, justify="right")
    for key, value in metrics.items():
        table.add_row(key, _fmt(key, value), *(_fmt(key, block.get(key)) for block, _ in extra.values()))
    out.print(table)
    out.print(f"Run time {time.perf_counter() - started:.0f} s. Report:")
    for path in paths.values():
        out.print(f"  {path}", markup=False, soft_wrap=True)


def _add_metric_blocks(paths: dict[str, Path], extra: dict[str, tuple[dict, str]]) -> None:
    """Add metric blocks next to "metrics": keys of report.json, tables after the first in report.md."""
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    blocks = {key: _rounded(block) for key, (block, _) in extra.items()}
    data = {**{k: v for k, v in data.items() if k != "rows"}, **blocks, "rows": data["rows"]}
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    markdown = paths["md"].read_text(encoding="utf-8")
    head, rest = markdown.split("## Metrics\n", 1)
    first_table, after = rest.split("\n\n## ", 1) if "\n\n## " in rest else (rest.rstrip("\n"), "")
    sections = [
        "\n".join([f"## Metrics, {label} ({block['n_questions']} questions)", "",
                   *_table(("metric", "value"), [(k, _fmt(k, v)) for k, v in block.items()])])
        for block, label in extra.values()
    ]
    parts = [head + "## Metrics\n" + first_table, *sections] + (["## " + after] if after else [])
    paths["md"].write_text("\n\n".join(p.rstrip("\n") for p in parts) + "\n", encoding="utf-8")
