"""The ``qa-service`` command line. Heavy imports happen inside commands."""
from __future__ import annotations

import json
import sys
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from qa_service.settings import Settings

app = typer.Typer(help="Question answering over news articles with verified citations.", no_args_is_help=True)
articles_app = typer.Typer(help="List, show and delete indexed articles.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")
console = Console(stderr=True)
out = Console()


def demo_corpus_path() -> Path:
    """The demo articles shipped inside the ``index`` package."""
    return Path(str(resources.files("index").joinpath("demo_corpus")))


def _services(ctx: typer.Context):
    from qa_service.services import Services

    if "services" not in ctx.obj:
        ctx.obj["services"] = Services.build(ctx.obj["settings"])
    return ctx.obj["services"]


@app.callback()
def main(ctx: typer.Context) -> None:
    """Settings come from QA_* environment variables (see README)."""
    ctx.ensure_object(dict)
    ctx.obj["settings"] = Settings()


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="files or directories"),
    source: Optional[str] = typer.Option(None, help="source name for every article"),
    demo: bool = typer.Option(False, help="also ingest the shipped demo corpus"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Load, chunk, embed and index articles; unchanged ones are skipped."""
    from rich.markup import escape

    from index.loaders import load_paths
    from qa_service.intake import screen

    targets = list(paths or []) + ([demo_corpus_path()] if demo else [])
    if not targets:
        raise typer.BadParameter("give at least one PATH (or --demo)")
    settings: Settings = ctx.obj["settings"]
    loaded, warnings = screen(load_paths(targets, source=source, max_file_bytes=settings.max_file_bytes))
    report = ingest_with_progress(_services(ctx), loaded)
    if as_json:
        warned = [{"name": w.path, "reason": w.reason} for w in warnings]
        out.print_json(json.dumps({**report.to_dict(), "warnings": warned}))
    else:
        _print_summary(report)
        for warning in warnings:
            out.print(f"[yellow]warning[/yellow] {escape(warning.path)}: {escape(warning.reason)}", highlight=False)
    raise typer.Exit(1 if report.failed else 0)


def ingest_with_progress(services, loaded):
    from rich.progress import Progress

    from index.pipeline import IngestReport

    report = IngestReport(failed=list(loaded.failures))
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Indexing", total=len(loaded.articles))
        services.ingestor.ingest(loaded.articles, report, on_article=lambda _: progress.advance(task))
    return report


def _print_summary(report) -> None:
    table = Table(title="Ingest summary")
    for column in ("added", "updated", "unchanged", "failed", "chunks written"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in (report.added, report.updated, report.unchanged, len(report.failed), report.chunks)))
    out.print(table)
    for failure in report.failed:
        out.print(f"[red]failed[/red] {failure.path}: {failure.reason}", markup=True, highlight=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="the question"),
    as_json: bool = typer.Option(False, "--json", help="print the Answer JSON"),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=20),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="YYYY-MM-DD: answer as of this date"),
    source: Optional[list[str]] = typer.Option(None, "--source", help="only these sources"),
) -> None:
    """Answer a question from the indexed articles, with citations."""
    from qa_service.answering import Question
    from qa_service.models import Filters

    if not question.strip():
        raise typer.BadParameter("the question is empty")
    services = _services(ctx)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(f"--as-of must be YYYY-MM-DD, got {as_of!r}")
    answer = services.answerer.ask(Question(
        question.strip(), top_k or services.settings.top_k, Filters(sources=source or None), day,
    ))
    if as_json:
        sys.stdout.write(answer.model_dump_json(indent=2) + "\n")
        return
    out.print(answer.answer, highlight=False)
    shown = answer.citations or []
    if shown:
        out.print("\nSources:")
    for c in shown:
        out.print(f"  [{c.n}] {c.title} ({(c.published_at or '')[:10]}) {c.url or ''}\n      \"{c.quote}\"",
                  highlight=False, markup=False)
    if answer.abstained and answer.passages:
        out.print("\nNearest passages:")
        for p in answer.passages:
            out.print(f"  - {p.title}: {p.text[:160]}…", highlight=False, markup=False)
    t = answer.timings_ms
    console.print(f"retrieve {t['retrieve']:.0f} ms, generate {t['generate']:.0f} ms, "
                  f"verify {t['verify']:.0f} ms, total {t['total']:.0f} ms")


@articles_app.command("list")
def articles_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json"),
    offset: int = typer.Option(0, min=0),
    limit: int = typer.Option(100, min=1, max=1000),
) -> None:
    """List indexed articles."""
    services = _services(ctx)
    records = services.store.list_articles(offset, limit)
    if as_json:
        sys.stdout.write(json.dumps({"total": services.store.count_articles(), "articles": records}, indent=2) + "\n")
        return
    table = Table(title=f"{services.store.count_articles()} articles")
    for column in ("id", "published", "source", "chunks", "title"):
        table.add_column(column)
    for r in records:
        table.add_row(r["id"], (r["published_at"] or "")[:10], r["source"], str(r["chunks"]), r["title"][:70])
    out.print(table)


@articles_app.command("show")
def articles_show(ctx: typer.Context, article_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one article with its body."""
    record = _services(ctx).store.article_record(article_id, with_body=True)
    if record is None:
        console.print(f"no article with id {article_id!r}")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    out.print(f"{record['title']}\n{record['published_at'] or ''}  {record['source']}  {record['url'] or ''}",
              markup=False, highlight=False)
    out.print(f"by {', '.join(record['authors'])}\n" if record["authors"] else "", markup=False)
    out.print(record["body"], markup=False, highlight=False)


@articles_app.command("delete")
def articles_delete(ctx: typer.Context, article_id: str) -> None:
    """Delete an article and all its chunks."""
    if not _services(ctx).store.delete_article(article_id):
        console.print(f"no article with id {article_id!r}")
        raise typer.Exit(1)
    out.print(f"deleted {article_id}")


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, min=1, help="worker processes (Chroma server mode only)"),
    ingest_demo: bool = typer.Option(False, "--ingest-demo", help="ingest the demo corpus if the index is empty"),
) -> None:
    """Serve the HTTP API and the web page."""
    from qa_service.api.server import run_server

    run_server(ctx.obj["settings"], host=host, port=port, workers=workers, ingest_demo=ingest_demo)


@app.command("eval", context_settings={"allow_extra_args": False})
def eval_(
    ctx: typer.Context,
    gold: list[str] = typer.Argument(None, help="GOLD.jsonl, or: compare A B"),
    corpus: Optional[list[Path]] = typer.Option(None, "--corpus", help="ingest into a fresh temporary index"),
    report: Path = typer.Option(Path("reports/eval"), "--report", help="report directory"),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, max=20),
    realtimeqa: Optional[Path] = typer.Option(None, "--realtimeqa", help="RealTimeQA past/YYYY directory"),
    weeks: Optional[int] = typer.Option(None, "--weeks", min=1, help="only the first N weeks"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="only the first N questions"),
    scope: Optional[str] = typer.Option(
        None, "--scope", metavar="week|question",
        help="RealTimeQA protocol: 'week' (default) searches all the week's articles; 'question' answers "
             "each question over its own search results only"),
) -> None:
    """Score answers against gold answers (or `eval compare A B`)."""
    from evals.cli import run_eval_command

    code = run_eval_command(ctx.obj["settings"], gold or [], corpus=corpus or [], report=report, top_k=top_k,
                            realtimeqa=realtimeqa, weeks=weeks, limit=limit, scope=scope)
    raise typer.Exit(code)


@app.command()
def bench(
    ctx: typer.Context,
    quick: bool = typer.Option(False, "--quick", help="small sizes, under 3 minutes"),
    report: Path = typer.Option(Path("reports/bench"), "--report", help="where bench.json goes"),
) -> None:
    """Benchmark the service against its raw components."""
    from evals.bench import run_bench

    raise typer.Exit(run_bench(ctx.obj["settings"], quick=quick, report=report))


if __name__ == "__main__":
    app()
