"""The ``qa-service`` command line.

With QA_SERVER_URL (or ``--server URL``) set, ``ask``, ``search``, ``ingest`` and
``articles`` talk to that server (``qa_service.client.ServiceClient``) and load no model;
otherwise they work in this process (``qa_service.local.LocalService``). Both return the
same types, so the output is the same. Heavy modules are imported inside the
commands that need them: ``--help`` and client mode start in about a second.
"""
from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pydantic import BaseModel

    from index.article import Article
    from index.loaders import LoadFailure, LoadResult
    from qa_service.api.schemas import IngestResponse, RequestFilters, SearchResponse
    from qa_service.client import ServiceClient
    from qa_service.local import LocalService
    from qa_service.models import Answer
    from qa_service.services import Services
    from qa_service.settings import Settings

    Request = TypeVar("Request", bound=BaseModel)
    _Result = TypeVar("_Result", bound=BaseModel)

app = typer.Typer(help="Question answering over news articles with verified citations.", no_args_is_help=True)
articles_app = typer.Typer(help="List, show and delete indexed articles.", no_args_is_help=True)
app.add_typer(articles_app, name="articles")
console = Console(stderr=True)
out = Console()

ABSTAINED = 3  # exit status of `ask` when the indexed articles do not answer the question

Server = Annotated[str | None, typer.Option(
    "--server", metavar="URL", help="use the qa-service server at URL (default: QA_SERVER_URL)")]
Local = Annotated[bool, typer.Option("--local", help="work in this process even when QA_SERVER_URL is set")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", "-v", help="timings, library logs and progress bars, and who answered (last line)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON (the HTTP API's shape)")]
Sources = Annotated[list[str] | None, typer.Option("--source", help="only articles of this source (repeatable)")]
TopK = Annotated[int | None, typer.Option("--top-k", min=1, max=20, help="passages to retrieve (default: QA_TOP_K)")]


@app.callback()
def main(ctx: typer.Context) -> None:
    """Settings come from QA_* environment variables (see README)."""
    from pydantic import ValidationError

    from qa_service.settings import Settings

    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = Settings()
    except ValidationError as err:
        # A check of several settings together (a model validator) names them in its message.
        problems = "; ".join((f"QA_{'_'.join(map(str, e['loc'])).upper()}: " if e["loc"] else "")
                             + e["msg"].removeprefix("Value error, ") for e in err.errors())
        _fail(f"bad setting: {problems}")


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1."""
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _service(ctx: typer.Context, server: str | None, local: bool, verbose: bool) -> ServiceClient | LocalService:
    """The server named by --server or QA_SERVER_URL, else this process (always with --local)."""
    from qa_service.intake import url_problem

    settings = ctx.obj["settings"]
    if verbose:
        settings = ctx.obj["settings"] = settings.model_copy(update={"verbose": True})
    if server and local:
        raise typer.BadParameter("give --server or --local, not both")
    url, origin = (server, "--server") if server else (settings.server_url, "QA_SERVER_URL")
    if not url or local:
        from qa_service.local import LocalService

        return LocalService(settings)
    if problem := url_problem(url):
        if server:
            raise typer.BadParameter(f"--server {problem}; got {url!r}")
        _fail(f"QA_SERVER_URL {problem}; got {url!r}: set it to the server's address, "
              "e.g. http://127.0.0.1:8000, or unset it to work in this process")
    from qa_service.client import ServiceClient

    return ServiceClient(url, api_key=settings.api_key, timeout_s=settings.client_timeout_s, origin=origin,
                         max_batch_articles=settings.max_batch_articles, max_article_chars=settings.max_article_chars,
                         max_request_bytes=int(settings.max_upload_mb * 2**20))


@contextmanager
def _reported() -> Iterator[None]:
    """A ServiceError becomes its one-line message and exit status 1."""
    from qa_service.client import ServiceError

    try:
        yield
    except ServiceError as err:
        _fail(str(err))


def _answered_by(ctx: typer.Context, service: ServiceClient | LocalService) -> None:
    if ctx.obj["settings"].verbose:
        console.print(f"answered by {service.where}", markup=False, highlight=False, soft_wrap=True)


def _request(model: type[Request], **fields) -> Request:
    """The request object, or a usage error naming the bad field (the HTTP API's own rules)."""
    from pydantic import ValidationError

    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        raise typer.BadParameter("; ".join(
            f"{'.'.join(map(str, e['loc']))} {e['msg'].removeprefix('Value error, ')}" for e in err.errors())) from None


def _filters(sources: list[str] | None) -> RequestFilters | None:
    from qa_service.api.schemas import RequestFilters

    return RequestFilters(sources=sources) if sources else None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise typer.BadParameter(f"--as-of must be a date YYYY-MM-DD, got {value!r}") from None


def _wrap(text: str, indent: str = "", hang: str | None = None) -> str:
    """``text`` filled to the terminal's width; continuation lines start with ``hang``."""
    return textwrap.fill(" ".join(text.split()), width=shutil.get_terminal_size().columns,
                         initial_indent=indent, subsequent_indent=indent if hang is None else hang,
                         break_long_words=False, break_on_hyphens=False)


def _say(text: str = "") -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _dated(title: str, published_at: str | None) -> str:
    return f"{title} ({published_at[:10]})" if published_at else title


@app.command()
def ingest(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(None, help="files or directories"),
    source: str | None = typer.Option(None, help="source name for every article"),
    demo: bool = typer.Option(False, help="also ingest the shipped demo corpus"),
    embed_workers: int | None = typer.Option(None, "--embed-workers", min=1, help="embedding requests in flight "
                                             "at once (QA_EMBED_BACKEND=openai; default: QA_EMBED_WORKERS)"),
    as_json: Json = False, server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """Load, chunk, embed and index articles; unchanged ones are skipped.

    Files are read here, in client mode too, a file or a JSON Lines record at a time, so an
    archive of any size streams through; run again after a stop, what was stored is skipped.
    Exit status 1 when any file or article failed.
    """
    from cli.progress import ingest_progress
    from index.demo import demo_corpus_path
    from index.loaders import input_bytes, stream_paths
    from qa_service.api.schemas import Failure

    targets = list(paths or []) + ([demo_corpus_path()] if demo else [])
    if not targets:
        raise typer.BadParameter("give at least one PATH (or --demo)")
    if embed_workers is not None:
        if server or (ctx.obj["settings"].server_url and not local):
            raise typer.BadParameter("--embed-workers is for an ingest in this process; a server embeds with its "
                                     "own QA_EMBED_WORKERS")
        _set_embed_workers(ctx, embed_workers)
    service = _service(ctx, server, local, verbose)
    settings = ctx.obj["settings"]
    loading = _Loading(settings)
    with _reported(), ingest_progress(input_bytes(targets)) as shown:
        articles = loading.articles(stream_paths(targets, source=source, max_file_bytes=settings.max_file_bytes),
                                    shown.read)
        result = service.ingest(articles, shown.done)
    report = result.model_copy(update={
        "failed": [Failure(name=f.path, reason=f.reason) for f in loading.failed] + result.failed,
        "warnings": [Failure(name=w.path, reason=w.reason) for w in loading.warnings] + result.warnings,
    })
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print_summary(report)
    _answered_by(ctx, service)
    raise typer.Exit(1 if report.failed else 0)


def _set_embed_workers(ctx: typer.Context, workers: int) -> None:
    """The settings with ``workers``, or a usage error when the embedding backend cannot use them."""
    from pydantic import ValidationError

    settings = ctx.obj["settings"].model_copy(update={"embed_workers": workers})
    try:
        _ = settings.embedding  # the group checks its fields together
    except ValidationError as err:
        raise typer.BadParameter(err.errors()[0]["msg"].removeprefix("Value error, ")) from None
    ctx.obj["settings"] = settings


class _Loading:
    """Articles of a stream of loaded files, screened (``qa_service.intake``); what was refused
    or changed is kept for the summary."""

    def __init__(self, settings: Settings) -> None:
        self.limits = settings.http
        self.failed: list[LoadFailure] = []
        self.warnings: list[LoadFailure] = []

    def articles(self, stream: Iterable[tuple[LoadResult, int]], read: Callable[[int], None]) -> Iterator[Article]:
        from qa_service.intake import screen

        for loaded, size in stream:
            kept, warnings = screen(loaded, self.limits)
            self.failed += kept.failures
            self.warnings += warnings
            read(size)
            yield from kept.articles


def _print_summary(report: IngestResponse) -> None:
    table = Table(title="Ingest summary")
    for column in ("added", "updated", "unchanged", "duplicates", "failed", "chunks written"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in (report.added, report.updated, report.unchanged, len(report.duplicates),
                                     len(report.failed), report.chunks)))
    out.print(table)
    for failure in report.failed:
        out.print(f"[red]failed[/red] {escape(failure.name)}: {escape(failure.reason)}", highlight=False)
    for duplicate in report.duplicates:
        out.print(f"[yellow]duplicate[/yellow] {escape(repr(duplicate.title))} ({duplicate.article_id}) has the "
                  f"text of {duplicate.duplicate_of}; not indexed", highlight=False)
    for warning in report.warnings:
        out.print(f"[yellow]warning[/yellow] {escape(warning.name)}: {escape(warning.reason)}", highlight=False)


@app.command()
def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="the question"),
    as_json: Annotated[bool, typer.Option("--json", help="print the Answer JSON")] = False,
    top_k: TopK = None,
    as_of: str | None = typer.Option(None, "--as-of", help="YYYY-MM-DD: answer as of this date"),
    source: Sources = None, server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """Answer a question from the indexed articles, with citations.

    Exit status: 0 answered, 3 abstained (the indexed articles do not answer it), 1 error.
    """
    from qa_service.api.schemas import AskRequest

    request = _request(AskRequest, question=question, top_k=top_k, as_of=_day(as_of), filters=_filters(source))
    service = _service(ctx, server, local, verbose)
    answer = _shown(lambda: service.ask(request), as_json, _print_answer)
    if ctx.obj["settings"].verbose:
        t = answer.timings_ms
        console.print(f"retrieve {t['retrieve']:.0f} ms, generate {t['generate']:.0f} ms, "
                      f"verify {t['verify']:.0f} ms, total {t['total']:.0f} ms", highlight=False)
    _answered_by(ctx, service)
    raise typer.Exit(ABSTAINED if answer.abstained else 0)


def _shown(call: Callable[[], _Result], as_json: bool, print_text: Callable[[_Result], None]) -> _Result:
    """Run a service call (errors as one line) and print its result as JSON or text."""
    with _reported():
        result = call()
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        print_text(result)
    return result


def _print_answer(answer: Answer) -> None:
    _say(_wrap(answer.answer))
    if answer.citations:
        _say("\nSources:")
    for c in answer.citations:
        _say(_wrap(_dated(c.title, c.published_at), f"  [{c.n}] ", "      "))
        if c.url:
            _say(f"      {c.url}")
        _say(_wrap(f'"{c.quote}"', "      ", "       "))
    if answer.abstained and answer.passages:
        _say("\nNearest passages:")
        for p in answer.passages:
            _say(_wrap(f"{_dated(p.title, p.published_at)}: {textwrap.shorten(p.text, 200, placeholder=' …')}",
                       "  - ", "    "))


@app.command()
def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="what to look for"),
    as_json: Json = False, top_k: TopK = None, source: Sources = None,
    server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """The passages a question would be answered from (no language model runs).

    Exit status: 0 found, 3 nothing similar enough (the nearest passages are shown), 1 error.
    """
    from qa_service.api.schemas import SearchRequest

    request = _request(SearchRequest, query=query, top_k=top_k, filters=_filters(source))
    service = _service(ctx, server, local, verbose)
    found = _shown(lambda: service.search(request), as_json, _print_passages)
    _answered_by(ctx, service)
    raise typer.Exit(0 if found.relevant else ABSTAINED)


def _print_passages(found: SearchResponse) -> None:
    if not found.relevant:
        _say("No passage is similar enough to the query; the nearest ones:\n")
    for p in found.passages:
        _say(_wrap(f"{_dated(p.title, p.published_at)}  (score {p.score:.4f})", f"[{p.n}] ", "    "))
        _say(_wrap(p.text, "    ") + "\n")


@articles_app.command("list")
def articles_list(
    ctx: typer.Context,
    as_json: Json = False,
    offset: int = typer.Option(0, min=0),
    limit: int = typer.Option(100, min=1, max=1000),
    server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """List indexed articles."""
    service = _service(ctx, server, local, verbose)
    with _reported():
        page = service.list_articles(offset, limit)
    if as_json:
        sys.stdout.write(page.model_dump_json(indent=2) + "\n")
    else:
        table = Table(title=f"{page.total} articles")
        for column in ("id", "published", "source", "chunks", "title"):
            table.add_column(column)
        for a in page.articles:
            table.add_row(a.id, (a.published_at or "")[:10], a.source, str(a.chunks), a.title[:70])
        out.print(table)
    _answered_by(ctx, service)


@articles_app.command("show")
def articles_show(
    ctx: typer.Context, article_id: str, as_json: Json = False,
    server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """Show one article with its body."""
    service = _service(ctx, server, local, verbose)
    with _reported():
        record = service.article(article_id)
    if record is None:
        _fail(f"no article with id {article_id!r}; `qa-service articles list` shows the ids")
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        _say(f"{record.title}\n{record.published_at or ''}  {record.source}  {record.url or ''}")
        if record.authors:
            _say(f"by {', '.join(record.authors)}\n")
        _say(record.body)
    _answered_by(ctx, service)


@articles_app.command("delete")
def articles_delete(
    ctx: typer.Context, article_id: str,
    server: Server = None, local: Local = False, verbose: Verbose = False,
) -> None:
    """Delete an article and all its chunks."""
    service = _service(ctx, server, local, verbose)
    with _reported():
        deleted = service.delete(article_id)
    if not deleted:
        _fail(f"no article with id {article_id!r}; `qa-service articles list` shows the ids")
    _say(f"deleted {article_id}")
    _answered_by(ctx, service)


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(8000, help="port"),
    workers: int = typer.Option(1, min=1, help="worker processes (Chroma server mode only)"),
    ingest_demo: bool = typer.Option(False, "--ingest-demo", help="ingest the demo corpus if the index is empty"),
) -> None:
    """Serve the HTTP API and the web page."""
    from qa_service.api.server import check_workers, run_server

    settings = ctx.obj["settings"]
    check_workers(settings, workers)  # before the demo ingest, which can take a while
    services = _with_demo(settings) if ingest_demo else None
    run_server(settings, host=host, port=port, workers=workers, services=services)


@app.command("embed-serve")
def embed_serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="bind address"),
    port: int = typer.Option(7997, help="port"),
    served_name: str | None = typer.Option(None, "--served-name", help="the model's name in replies "
                                           "(default: its own, from QA_EMBED_MODEL)"),
) -> None:
    """Serve the embedding model (QA_EMBED_MODEL) at an OpenAI-compatible /v1/embeddings, for
    QA_EMBED_BACKEND=openai elsewhere; QA_EMBED_API_KEY, when set, is required of clients."""
    from qa_service.embed_server import run_embed_server

    run_embed_server(ctx.obj["settings"], host, port, served_name)


def _with_demo(settings: Settings) -> Services:
    """The service of ``settings``, with the demo corpus indexed first if the index is empty."""
    from cli.progress import ingest_with_progress
    from index.demo import demo_corpus_path
    from index.loaders import load_paths
    from qa_service.services import Services

    services = Services(settings)
    if services.store.count_articles() == 0:
        ingest_with_progress(services, load_paths([demo_corpus_path()], max_file_bytes=settings.max_file_bytes))
    return services


@app.command("eval", context_settings={"allow_extra_args": False})
def eval_(
    ctx: typer.Context,
    gold: list[str] = typer.Argument(None, help="GOLD.jsonl, or: compare A B"),
    corpus: list[Path] | None = typer.Option(None, "--corpus", help="ingest into a fresh temporary index"),
    report: Path = typer.Option(Path("reports/eval"), "--report", help="report directory"),
    top_k: TopK = None,
    realtimeqa: Path | None = typer.Option(None, "--realtimeqa", help="RealTimeQA past/YYYY directory"),
    weeks: int | None = typer.Option(None, "--weeks", min=1, help="only the first N weeks"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N questions"),
    squad: Path | None = typer.Option(
        None, "--squad", help="SQuAD 2.0 JSON file: its paragraphs are the corpus, scored the official way"),
    scope: str | None = typer.Option(
        None, "--scope", metavar="week|question|paragraph|corpus",
        help="RealTimeQA protocol: 'week' (default) searches all the week's articles; 'question' answers "
             "each question over its own search results only. SQuAD protocol: 'paragraph' (default) answers "
             "each question over its own paragraph only; 'corpus' searches all the paragraphs"),
) -> None:
    """Score answers against gold answers, RealTimeQA weeks or SQuAD 2.0 (or `eval compare A B`)."""
    from cli.evaluate import run_eval_command

    code = run_eval_command(ctx.obj["settings"], gold or [], corpus=corpus or [], report=report, top_k=top_k,
                            realtimeqa=realtimeqa, weeks=weeks, limit=limit, scope=scope, squad=squad)
    raise typer.Exit(code)


@app.command()
def bench(
    ctx: typer.Context,
    quick: bool = typer.Option(False, "--quick", help="small sizes, under 3 minutes"),
    report: Path = typer.Option(Path("reports/bench"), "--report", help="where bench.json goes"),
    scale: int | None = typer.Option(None, "--scale", min=1000, help="instead: build, serve and measure an index "
                                     "of this many chunks (synthetic vectors)"),
    pool: Path | None = typer.Option(None, "--pool", exists=True, file_okay=False,
                                     help="--scale's texts and queries: a RealTimeQA directory (default: generated)"),
    keep: Path | None = typer.Option(None, "--keep", help="--scale builds its index here and keeps it; a "
                                     "directory already holding the --scale chunks is measured again, not rebuilt"),
    sentence_vectors: int = typer.Option(0, "--sentence-vectors", min=0, max=50, help="--scale also writes this "
                                         "many synthetic sentence vectors a chunk (ingest writes about 6)"),
) -> None:
    """Benchmark the service against its raw components (or, with --scale, at size)."""
    from evals.bench import run_bench, run_scale

    if scale is not None:
        raise typer.Exit(run_scale(ctx.obj["settings"], scale, pool, report=report, keep=keep,
                                     sentence_vectors=sentence_vectors))
    raise typer.Exit(run_bench(ctx.obj["settings"], quick=quick, report=report))


if __name__ == "__main__":
    app()
