"""Ask gold questions through the service's answering path and record raw rows.

A raw row is the input of ``evals.metrics.score_row``: the gold side (id,
question, tags, gold_answers, evidence_quotes, as_of), what the service did
(answer, abstained, passages' texts in rank order, statements with the quotes
they cite, citations) and its cost (latency_ms, generate_ms, tokens,
first_token_ms). A question that raised is a row with ``error`` set, keeping
whatever passages were retrieved before the failure.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evals.gold import GoldItem
from evals.metrics import score_row
from qa_service.answering import AnswerEvent, PassagesEvent, Question
from qa_service.models import Answer
from qa_service.services import Services
from qa_service.settings import Settings

OnRow = Callable[[dict], None]
_LOG_EVERY = 10


def gold_fields(item: GoldItem) -> dict:
    """The gold half of a raw row."""
    return {
        "id": item.id,
        "question": item.question,
        "tags": list(item.tags),
        "gold_answers": list(item.answers),
        "evidence_quotes": [e.quote for e in item.evidence],
        "as_of": item.as_of.isoformat() if item.as_of else None,
    }


def answer_fields(answer: Answer, tokens: int, first_token_ms: float | None) -> dict:
    """The service half of a raw row, from a finished Answer."""
    quotes = {c.n: c.quote for c in answer.citations}
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "error": None,
        "passages": [p.text for p in answer.passages],
        "statements": [
            {"text": s.text, "quotes": [quotes[n] for n in s.citations if n in quotes]}
            for s in answer.sentences
        ],
        "citations": [
            {"n": c.n, "article_id": c.article_id, "title": c.title, "quote": c.quote, "score": c.score}
            for c in answer.citations
        ],
        "generate_ms": answer.timings_ms.get("generate", 0.0),
        "timings_ms": answer.timings_ms,
        "tokens": tokens,
        "first_token_ms": first_token_ms,
    }


def ask_one(services: Services, item: GoldItem, top_k: int) -> dict:
    """One raw row: the question asked in open form, timed end to end."""
    passages: list[str] = []
    started = time.perf_counter()
    try:
        for event in services.answerer.stream(Question(item.question, top_k, None, item.as_of)):
            if isinstance(event, PassagesEvent):
                passages = [p.text for p in event.passages]
            elif isinstance(event, AnswerEvent):
                fields = answer_fields(event.answer, event.usage.tokens, event.usage.first_token_ms)
                break
        else:
            raise RuntimeError("the answer stream ended without an answer")
    except Exception as exc:  # a failed question is a result to report, not a reason to stop the run
        fields = {
            "answer": "", "abstained": False, "error": f"{type(exc).__name__}: {exc}".rstrip(": "),
            "passages": passages, "statements": [], "citations": [],
            "generate_ms": None, "timings_ms": None, "tokens": 0, "first_token_ms": None,
        }
    latency_ms = (time.perf_counter() - started) * 1000
    return {**gold_fields(item), **fields, "latency_ms": round(latency_ms, 1)}


def run_gold(services: Services, gold_items: Sequence[GoldItem], top_k: int,
             progress: OnRow | None = None) -> list[dict]:
    """Raw rows of every gold item, in order; ``progress`` is called after each row."""
    rows = []
    for item in gold_items:
        rows.append(ask_one(services, item, top_k))
        if progress:
            progress(rows[-1])
    return rows


def evaluate(services: Services, gold_items: Sequence[GoldItem], top_k: int,
             progress: OnRow | None = None) -> list[dict]:
    """Scored rows: ``run_gold``, each row scored with the service's own support checker."""
    return [score_row(row, services.checker) for row in run_gold(services, gold_items, top_k, progress)]


@contextmanager
def progress_bar(total: int, description: str = "Asking") -> Iterator[Callable[[dict], None]]:
    """A rich progress bar on stderr; yields the per-row callback for ``run_gold``.

    When stderr is not a terminal (a run logged to a file) the bar cannot
    redraw, so a plain line is printed every ``_LOG_EVERY`` questions instead.
    """
    console = Console(stderr=True)
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


@contextmanager
def temporary_services(settings: Settings, like: Services | None = None) -> Iterator[Services]:
    """Services over a fresh, empty embedded index in a temporary directory, removed afterwards.

    Pass ``like`` to reuse its already-loaded embedder and generator: loading
    the models costs seconds, an empty index nothing.
    """
    data_dir = Path(tempfile.mkdtemp(prefix="qa-eval-"))
    fresh = settings.model_copy(update={"data_dir": data_dir, "chroma_host": None})
    services = Services.build(fresh, like.embedder if like else None, like.generator if like else None)
    try:
        yield services
    finally:
        # Chroma caches one open system per path; close it before its files go.
        services.store.client.close()
        shutil.rmtree(data_dir, ignore_errors=True)
