"""Progress bars on stderr for long work: indexing (ingest, demo, eval corpora) and asking (eval)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from index.loaders import LoadResult
    from index.pipeline import IngestReport
    from qa_service.services import Services

console = Console(stderr=True)
_LOG_EVERY = 10
_LOG_SECONDS = 10


@contextmanager
def progress(total: int) -> Iterator[Callable[[int], None]]:
    """``advance(n)`` for a bar on stderr, drawn only on a terminal (a log gets the summary alone)."""
    from rich.progress import Progress

    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("Indexing", total=total)
        yield lambda n: bar.advance(task, n)


class IngestProgress:
    """The progress of an archive's ingest: input read (of the total, for the time left) and
    articles done, with their rate. A bar on a terminal; in a log, a line every
    ``_LOG_SECONDS`` seconds."""

    def __init__(self, bar, task) -> None:
        self.bar, self.task = bar, task
        self.articles, self.started, self.logged = 0, time.monotonic(), time.monotonic()

    def read(self, n_bytes: int) -> None:
        self.bar.advance(self.task, n_bytes)

    def done(self, n_articles: int) -> None:
        self.articles += n_articles
        rate = self.articles / max(time.monotonic() - self.started, 1e-9)
        self.bar.update(self.task, articles=self.articles, rate=f"{rate:,.1f}")
        if not console.is_terminal and time.monotonic() - self.logged >= _LOG_SECONDS:
            self.logged = time.monotonic()
            task = self.bar.tasks[0]
            left = f", {task.time_remaining:,.0f} s left" if task.time_remaining is not None else ""
            console.print(f"Indexing: {self.articles:,} articles ({rate:,.1f}/s), {task.percentage:.0f}% of the "
                          f"input read{left}", highlight=False)


@contextmanager
def ingest_progress(total_bytes: int) -> Iterator[IngestProgress]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("Indexing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("{task.fields[articles]:,} articles, {task.fields[rate]}/s"), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("Indexing", total=max(total_bytes, 1), articles=0, rate="0.0")
        yield IngestProgress(bar, task)


def ingest_with_progress(services: Services, loaded: LoadResult) -> IngestReport:
    """Index ``loaded``'s articles with a progress bar; its load failures start the report."""
    from index.pipeline import IngestReport

    report = IngestReport(failed=list(loaded.failures))
    with progress(len(loaded.articles)) as advance:
        services.ingestor.ingest(loaded.articles, report, on_article=lambda _: advance(1))
    return report


@contextmanager
def progress_bar(total: int, description: str = "Asking") -> Iterator[Callable[[dict], None]]:
    """A rich progress bar on stderr; yields the per-row callback for ``evals.runner.run_gold``.

    When stderr is not a terminal (a run logged to a file) the bar cannot
    redraw, so a plain line is printed every ``_LOG_EVERY`` questions instead.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=total, failed=0)
        done = failed = 0

        def advance(row: dict) -> None:
            nonlocal done, failed
            done += 1
            failed += row.get("error") is not None
            bar.update(task, advance=1, failed=failed)
            if not console.is_terminal and (done % _LOG_EVERY == 0 or done == total):
                console.print(f"{description}: {done}/{total} done, {failed} failed, "
                              f"{bar.tasks[0].elapsed or 0:.0f} s", highlight=False)

        yield advance
