"""``qa-service eval``: score a gold set, RealTimeQA weeks or a SQuAD 2.0 file, write the report,
or compare two.

Every report records its run (evals.runner.run_record); ``eval compare``
prints what differs in configuration above the metric deltas.

Exit codes: 0 when the run finished (questions that failed are recorded in the
report, not fatal), 2 for bad arguments or unusable input (missing or
malformed gold file, missing corpus, unreadable reports to compare).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.progress import ingest_with_progress, progress_bar
from evals.gold import GoldError, GoldItem, load_gold
from evals.metrics import aggregate, by_tag, score_row
from evals.realtimeqa import ANSWERABLE, SCOPES, RealTimeQAError, Week, load_weeks, run_weeks
from evals.report import (
    Blocks,
    _fmt,
    compare_reports,
    compare_runs,
    format_comparison,
    format_run_differences,
    metric_label,
    write_report,
)
from evals.runner import articles_sha256, model_ids, run_gold, run_record, temporary_services
from evals.squad import SCOPE_NOTES as SQUAD_SCOPE_NOTES
from evals.squad import SCOPES as SQUAD_SCOPES
from evals.squad import SquadError, check_ingested, load_squad, run_squad, squad_metrics
from index.catalog import IncompatibleIndex
from index.loaders import LoadResult, load_paths
from qa_service.services import Services
from qa_service.settings import Settings

console = Console(stderr=True)
out = Console(highlight=False)


SCOPE_NOTES = {
    "week": "every question searches all the week's articles",
    "question": "each question is answered only over its own search results (the benchmark's "
                "\"with search\" protocol)",
}


class UsageError(ValueError):
    """Bad arguments or unusable input: exit code 2."""


def run_eval_command(
    settings: Settings, gold_args: Sequence[str], *, corpus: Sequence[Path] = (), report: Path,
    top_k: int | None = None, realtimeqa: Path | None = None, weeks: int | None = None,
    limit: int | None = None, scope: str | None = None, squad: Path | None = None,
) -> int:
    """Run the ``eval`` subcommand; returns its exit code.

    ``scope`` is one of SCOPES for RealTimeQA (default "week"), one of
    evals.squad.SCOPES for ``squad`` (default "paragraph").
    """
    # The effective top-k goes into the settings so the run record shows what answered.
    settings = settings.model_copy(update={"top_k": top_k or settings.top_k})
    try:
        if list(gold_args[:1]) == ["compare"]:
            return _compare(gold_args[1:], corpus, realtimeqa)
        if squad is not None:
            if gold_args or corpus or realtimeqa is not None or weeks is not None:
                raise UsageError("--squad takes no GOLD file, no --corpus, no --realtimeqa and no --weeks "
                                 "(the file's paragraphs are the corpus)")
            if scope is not None and scope not in SQUAD_SCOPES:
                raise UsageError(f"--scope with --squad must be one of {', '.join(SQUAD_SCOPES)}, got {scope!r}")
            return _squad(settings, squad, report, limit, scope or SQUAD_SCOPES[0])
        if realtimeqa is not None:
            if gold_args or corpus:
                raise UsageError("--realtimeqa takes no GOLD file and no --corpus (each week is its own corpus)")
            if scope is not None and scope not in SCOPES:
                raise UsageError(f"--scope must be one of {', '.join(SCOPES)}, got {scope!r}")
            return _realtimeqa(settings, realtimeqa, report, weeks, limit, scope or SCOPES[0])
        if weeks is not None:
            raise UsageError("--weeks only applies with --realtimeqa")
        if scope is not None:
            raise UsageError("--scope only applies with --realtimeqa or --squad")
        if len(gold_args) != 1:
            raise UsageError("give one GOLD.jsonl, or --realtimeqa DIR, or: compare A B")
        return _gold(settings, Path(gold_args[0]), list(corpus), report, limit)
    except (UsageError, GoldError, RealTimeQAError, SquadError) as err:
        console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False, soft_wrap=True)
        return 2


def _compare(paths: Sequence[str], corpus: Sequence[Path], realtimeqa: Path | None) -> int:
    if len(paths) != 2 or corpus or realtimeqa is not None:
        raise UsageError("usage: qa-service eval compare A B (two report.json files or report folders)")
    try:
        rows = compare_reports(*paths)
        differences = compare_runs(*paths)
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"cannot read the reports to compare: {err}") from None
    out.print(format_run_differences(differences), markup=False, soft_wrap=True)
    out.print(format_comparison(rows), end="", markup=False)
    return 0


def _gold(settings: Settings, gold_path: Path, corpus: list[Path], report: Path, limit: int | None) -> int:
    items = load_gold(gold_path)[:limit]
    missing = [str(p) for p in corpus if not p.exists()]
    if missing:
        raise UsageError(f"corpus path not found: {', '.join(missing)}")
    started = time.perf_counter()
    with _gold_services(settings, corpus) as (services, index):
        with progress_bar(len(items)) as progress:
            raw = run_gold(services, items, settings.top_k, progress)
        rows = [score_row(row, services.checker) for row in with_all_of(raw, items)]
        models = model_ids(services)
    data = {
        "description": f"gold {gold_path} ({len(items)} questions) over {index['description']}",
        "gold": str(gold_path),
        "gold_sha256": hashlib.sha256(gold_path.read_bytes()).hexdigest(),
        "questions": len(items),
        "limit": limit,
        **{k: v for k, v in index.items() if k != "description"},
    }
    title = f"{gold_path.name}: {len(items)} questions, top-k {settings.top_k}"
    _finish(report, title, rows, {}, started, run_record(settings, models, data))
    return 0


def with_all_of(rows: list[dict], items: Sequence[GoldItem]) -> list[dict]:
    """Raw rows with their list question's items (``gold_all_of``, read by score_row) added."""
    all_of = {item.id: list(item.all_of) for item in items if item.all_of}
    return [{**row, "gold_all_of": all_of[row["id"]]} if row["id"] in all_of else row for row in rows]


@contextmanager
def _gold_services(settings: Settings, corpus: list[Path]) -> Iterator[tuple[Services, dict]]:
    """Services over a fresh index of ``corpus``, or over the configured index when none is given,
    with a description of that index for the run record."""
    if not corpus:
        with Services(settings) as services:
            yield services, _configured_index(services)
        return
    loaded = load_paths(corpus, max_file_bytes=settings.max_file_bytes)
    for failure in loaded.failures:
        console.print(f"[yellow]skipped[/yellow] {escape(f'{failure.path}: {failure.reason}')}",
                      highlight=False, soft_wrap=True)
    if not loaded.articles:
        raise UsageError("the corpus holds no loadable articles")
    with Services(settings) as models, temporary_services(models) as services:
        ingested = ingest_with_progress(services, loaded)
        console.print(f"Indexed {ingested.added} articles ({ingested.chunks} chunks) into a temporary index")
        yield services, {
            "description": f"corpus {', '.join(map(str, corpus))} ({ingested.added} articles)",
            "corpus": [str(p) for p in corpus], "articles": ingested.added, "chunks": ingested.chunks,
            "articles_sha256": articles_sha256(loaded.articles), "load_failures": len(loaded.failures),
        }


def _configured_index(services: Services) -> dict:
    """The run record's description of the index the settings name; a usage error when it is empty."""
    settings = services.settings
    try:
        chunks = services.store.count_chunks()
    except IncompatibleIndex as err:
        raise UsageError(str(err)) from None
    if chunks == 0:
        raise UsageError(f"the configured index in {settings.data_dir} is empty: pass --corpus PATH "
                         "or run `qa-service ingest` first")
    where = (f"Chroma server {settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host
             else str(settings.chroma_path))
    articles = services.store.count_articles()
    return {"description": f"the configured index ({where}, {articles} articles)",
            "index": where, "articles": articles, "chunks": chunks}


def _realtimeqa(settings: Settings, directory: Path, report: Path, weeks: int | None, limit: int | None,
                scope: str) -> int:
    loaded = load_weeks(directory, weeks, limit, settings.max_file_bytes, scope)
    _print_weeks(loaded)
    started = time.perf_counter()
    with progress_bar(sum(len(w.questions) for w in loaded)) as progress:
        rows, models = run_weeks(settings, loaded, settings.top_k, progress, scope)
    answerable = [r for r in rows if ANSWERABLE in r["tags"]]
    span = loaded[0].name if len(loaded) == 1 else f"{loaded[0].name}-{loaded[-1].name}"
    data = {
        "description": f"RealTimeQA {directory}, {len(loaded)} weeks ({span}), {len(rows)} questions; "
                       f"scope {scope}: {SCOPE_NOTES[scope]}",
        "realtimeqa": str(directory),
        "scope": scope,
        "questions": len(rows),
        "answerable": len(answerable),
        "limit": limit,
        "weeks": {w.name: {"questions": len(w.questions), "answerable": w.n_answerable,
                           "articles": len(w.articles), "load_failures": len(w.failures)} for w in loaded},
        "articles_sha256": articles_sha256(a for w in loaded for a in w.articles),
    }
    title = (f"RealTimeQA {directory.name}, scope {scope}: {len(loaded)} weeks, {len(rows)} questions, "
             f"top-k {settings.top_k}")
    blocks = {"metrics_answerable": (aggregate(answerable), "answerable questions only")}
    _finish(report, title, rows, blocks, started, run_record(settings, models, data))
    return 0


def _squad(settings: Settings, path: Path, report: Path, limit: int | None, scope: str) -> int:
    squad = load_squad(path, limit)
    started = time.perf_counter()
    with Services(settings) as models, temporary_services(models) as services:
        ingested = ingest_with_progress(services, LoadResult(articles=list(squad.articles)))
        console.print(f"Indexed {len(squad.articles)} paragraphs ({ingested.chunks} chunks) into a temporary index")
        check_ingested(squad, ingested.article_ids)
        with progress_bar(len(squad.questions)) as progress:
            rows = run_squad(services, squad, settings.top_k, scope, progress)
        used = model_ids(services)
    n = len(squad.questions)
    data = {
        "description": f"SQuAD 2.0 {path} ({n} questions, {squad.n_answerable} answerable) over its "
                       f"{len(squad.articles)} paragraphs; scope {scope}: {SQUAD_SCOPE_NOTES[scope]}",
        "squad": str(path),
        "squad_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "scope": scope,
        "questions": n,
        "answerable": squad.n_answerable,
        "limit": limit,
        "paragraphs": len(squad.articles),
        "chunks": ingested.chunks,
        "articles_sha256": articles_sha256(squad.articles),
    }
    title = f"SQuAD 2.0 {path.name}, scope {scope}: {n} questions, top-k {settings.top_k}"
    tables = {"squad": (squad_metrics(rows), "SQuAD 2.0 official scores (abstaining is the empty prediction)")}
    _finish(report, title, rows, {}, started, run_record(settings, used, data), tables)
    return 0


def _print_weeks(weeks: list[Week]) -> None:
    table = Table(title="RealTimeQA weeks")
    for column in ("week", "questions", "answerable", "articles", "load failures"):
        table.add_column(column, justify="right")
    for w in weeks:
        table.add_row(w.name, str(len(w.questions)), str(w.n_answerable), str(len(w.articles)), str(len(w.failures)))
    console.print(table)


def _finish(report: Path, title: str, rows: list[dict], blocks: Blocks, started: float, run: dict,
            tables: Blocks | None = None) -> None:
    """Write the report and print the metrics, the answers by tag and the file paths.

    ``blocks`` hold the run's metrics over a subset of questions (a column beside "all");
    ``tables`` are blocks with keys of their own (the SQuAD figures), printed as their own table.
    """
    tables = tables or {}
    metrics = aggregate(rows)
    paths = write_report(report, metrics, rows, title=title, run=run, blocks={**blocks, **tables})
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("all" if blocks else "value", justify="right")
    for _, label in blocks.values():
        table.add_column(label, justify="right")
    for key, value in metrics.items():
        others = (_fmt(key, block.get(key)) for block, _ in blocks.values())
        table.add_row(metric_label(key), _fmt(key, value), *others)
    out.print(table)
    for block, label in tables.values():
        _print_block(label, block)
    _print_tags(rows)
    out.print(f"Run time {time.perf_counter() - started:.0f} s. Report:")
    for path in paths.values():
        out.print(f"  {path}", markup=False, soft_wrap=True)
    if "png" not in paths:
        out.print("  (no chart: matplotlib is not installed; pip install 'qa-service[eval]')", markup=False)


def _print_block(label: str, block: dict) -> None:
    table = Table(title=label)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in block.items():
        table.add_row(key, _fmt(key, value))
    out.print(table)


def _print_tags(rows: list[dict]) -> None:
    """Answer recall and median answer length per tag (questions with gold answers)."""
    tags = by_tag(rows)
    if not tags:
        return
    table = Table(title="Answers by tag")
    for column in ("tag", "with gold", "answer recall", "answer precision", "median answer words"):
        table.add_column(column, justify="left" if column == "tag" else "right")
    for tag, m in tags.items():
        table.add_row(tag, str(m["n_with_gold"]), _fmt("answer_recall", m["answer_recall"]),
                      _fmt("answer_precision", m["answer_precision"]),
                      _fmt("answer_words_median", m["answer_words_median"]))
    out.print(table)
