"""``qa-service bench``: the service against the raw components it is made of.

Four sections, each in fresh temporary indexes (the user's data directory is
never touched): ingest throughput, search latency at growing index sizes, ask
latency on the demo corpus, and ``serve`` start-up time and memory. Time
ratios are ours / raw: lower is better, 1.0 is parity. The ask section always
uses the embedded llama.cpp backend, since its baseline is llama-cpp-python.
Writes ``REPORT/bench.json`` and prints a table; exit status 1 when a section failed.
"""
from __future__ import annotations

import json
import os
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evals.bench_ask import bench_ask
from evals.bench_ingest import bench_ingest
from evals.bench_scale import bench_scale
from evals.bench_search import bench_search
from evals.bench_serve import bench_serve
from qa_service.services import Services
from qa_service.settings import Settings

console = Console(stderr=True)


@dataclass(frozen=True)
class Plan:
    """Sizes of one run."""

    articles: int
    search_sizes: tuple[int, ...]
    queries: int
    questions: int
    http_asks: int


QUICK = Plan(articles=200, search_sizes=(1_000, 10_000), queries=30, questions=4, http_asks=2)
FULL = Plan(articles=1000, search_sizes=(1_000, 10_000, 100_000), queries=30, questions=8, http_asks=4)


def run_bench(settings: Settings, quick: bool = False, report: Path = Path("reports/bench")) -> int:
    """Run every section, print the table, write ``report/bench.json``; 0 when all sections ran."""
    plan = QUICK if quick else FULL
    settings = settings.model_copy(update={"llm_backend": "llama_cpp"})
    started = time.perf_counter()
    machine = _machine()
    sections: dict[str, dict] = {}
    # The models load once, in a container that opens no index: each section builds
    # its variants of it over temporary indexes.
    with Services(settings) as models:
        _load_models(models)
        steps: dict[str, Callable[[], dict]] = {
            "ingest": lambda: bench_ingest(models, plan.articles),
            "retrieval": lambda: bench_search(models, list(plan.search_sizes), plan.queries),
            "ask": lambda: bench_ask(models, plan.questions),
            "serve": lambda: bench_serve(models, plan.http_asks),
        }
        for name, step in steps.items():
            sections[name] = _run_section(name, step)
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {
        "quick": quick, "plan": asdict(plan), "seconds": round(time.perf_counter() - started, 1),
        "machine": machine, "sections": sections, "ratios": _ratios(sections),
    }
    _save(result, report / "bench.json")
    _console().print(bench_table(result))
    console.print(f"wrote {report / 'bench.json'} in {result['seconds']:.0f} s")
    return 1 if any("error" in s for s in sections.values()) else 0


def run_scale(settings: Settings, n_chunks: int, pool: Path | None, report: Path = Path("reports/bench"),
              keep: Path | None = None, sentence_vectors: int = 0) -> int:
    """``bench --scale N``: build, serve and measure an N-chunk index (with ``sentence_vectors``
    sentence rows a chunk); print the table, write ``report/scale-N.json``."""
    started = time.perf_counter()
    machine = _machine()
    with Services(settings) as models:
        models.embedder.warm_up()
        section = _run_section(f"scale {n_chunks:,}", lambda: bench_scale(models, n_chunks, pool, keep=keep,
                                                                          sentence_vectors=sentence_vectors))
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {"scale": n_chunks, "seconds": round(time.perf_counter() - started, 1), "machine": machine,
              "section": section}
    path = report / f"scale-{n_chunks}.json"
    _save(result, path)
    if "error" not in section:
        loads = f"{machine['load_average_start'][0]} -> {machine['load_average_end'][0]}"
        table = Table(title=f"qa-service bench --scale {n_chunks:,} (load avg {loads})")
        table.add_column("measure", justify="left")
        table.add_column("figure", justify="right")
        for row in _scale_rows(section):
            table.add_row(*row)
        _console().print(table)
    console.print(f"wrote {path} in {result['seconds']:.0f} s")
    return 1 if "error" in section else 0


def _save(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _scale_rows(s: dict) -> list[tuple[str, str]]:
    search, one = s["search_ms"], s["search_one_source_ms"]
    embed = s["real_embedding"]
    return [
        ("index", f"{s['written']:,} chunks of {s['texts']} ({s['stories']:,} stories), "
                  f"{s['sentences']:,} sentence vectors, synthetic vectors"),
        ("write (chunks, keyword rows)", "none: the kept index of an earlier run" if s.get("reused")
         else f"{s['write_s']} s, {s['write_chunks_per_s']:,.0f} chunks/s"),
        ("real embedding (MiniLM, this machine)", f"{embed['chunks_per_s']} chunks/s: {embed['hours_for_all']} h "
                                                  "for every chunk"),
        ("start-up until /readyz", f"{s['startup_s']} s"),
        ("/v1/search p50 / p95", f"{_fmt(search['p50'])} / {_fmt(search['p95'])} ms"),
        ("/v1/search, one source of 16, p50 / p95", f"{_fmt(one['p50'])} / {_fmt(one['p95'])} ms"),
        ("new article: POST; then found by /v1/search after", f"{s['new_article_post_ms']} ms; "
                                                               f"{s['new_article_found_after_ms']} ms"),
        ("server RSS at ready; after the searches; peak",
         f"{_fmt(s['rss_ready_mb'])} MB; {_fmt(s['rss_searched_mb'])} MB; {_fmt(s['peak_rss_mb'])} MB"),
        ("index on disk", f"{_fmt(s['disk_mb'])} MB"),
    ]


def _console() -> Console:
    out = Console()
    if not out.is_terminal:  # a log file: room for the whole table instead of 80 columns
        out.width = 120
    return out


def _load_models(models: Services) -> None:
    """Load both models before any timing, so no section pays for loading."""
    models.embedder.warm_up()
    models.generator.warm_up()


def _run_section(name: str, step: Callable[[], dict]) -> dict:
    console.print(f"bench: {name} ...")
    started = time.perf_counter()
    try:
        section = step()
    except Exception as exc:  # one failed section is reported; the others still run
        console.print(f"[red]bench: {name} failed[/red]: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=6)}
    console.print(f"bench: {name} done in {time.perf_counter() - started:.0f} s")
    return section


def _ratios(sections: dict[str, dict]) -> dict[str, float | None]:
    return {
        "ingest_vs_raw": sections["ingest"].get("ratio"),
        "search_vs_raw_10k": sections["retrieval"].get("10k", {}).get("ratio"),
        "ask_vs_raw_llm": sections["ask"].get("ratio"),
    }


_PACKAGES = ("chromadb", "llama-cpp-python", "sentence-transformers", "torch", "bm25s")


def _machine() -> dict:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": _cpu_model(),
        "python": platform.python_version(), "platform": platform.platform(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {p: version(p) for p in _PACKAGES},
    }


def _cpu_model() -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def _fmt(value: object, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value}{unit}"


def bench_table(result: dict) -> Table:
    """The human-readable summary of a bench result."""
    table = Table(title=f"qa-service bench ({'quick' if result['quick'] else 'full'}, "
                        f"load avg {result['machine']['load_average_start'][0]})")
    for column in ("section", "measure"):
        table.add_column(column, justify="left")
    for column in ("ours", "raw", "ours/raw"):
        table.add_column(column, justify="right")
    for row in _rows(result["sections"]):
        table.add_row(*row)
    return table


def _rows(sections: dict[str, dict]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, section in sections.items():
        if "error" in section:
            rows.append((name, "[red]failed[/red]", section["error"][:60], "", ""))
        else:
            rows += _SECTION_ROWS[name](section)
    return rows


def _ingest_rows(ingest: dict) -> list[tuple[str, ...]]:
    o, r = ingest["ours"], ingest["raw"]
    stages = o["stages_ms"]
    return [
        ("ingest", f"{ingest['articles']} articles, {ingest['chunks']} chunks, {ingest['sentences']} sentences: s",
         _fmt(o["seconds"]), _fmt(r["seconds"]), _fmt(ingest["ratio"])),
        ("", "articles/s", _fmt(o["articles_per_s"]), _fmt(r["articles_per_s"]), ""),
        ("", "ms: load / lookup / analysis / rest", f"{o['load_ms']} / {stages['lookup']} / {stages['analysis']} / "
                                                     f"{stages['rest']}", "", ""),
        ("", "ms: embedding / writing (raw: encode / add)", f"{stages['embedding']} / {stages['writing']}",
         f"{r['chunk_encode_ms'] + r['sentence_encode_ms']} / {r['chunk_add_ms'] + r['sentence_add_ms']}", ""),
        ("", "ms of it for sentence vectors (the reader's): encode / add", "",
         f"{r['sentence_encode_ms']} / {r['sentence_add_ms']}", ""),
    ]


def _search_rows(search: dict) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for label, size in search.items():
        parts, o, r = size["parts_p50_ms"], size["ours_ms"], size["raw_ms"]
        rows.append((f"search {label}", "p50 / p95 ms", f"{_fmt(o['p50'])} / {_fmt(o['p95'])}",
                     f"{_fmt(r['p50'])} / {_fmt(r['p95'])}", _fmt(size["ratio"])))
        rows.append(("", f"p50 parts: embed {_fmt(parts['embed'])}, dense top-20 {_fmt(parts['dense'])} "
                         f"(raw {_fmt(parts['raw_dense'])}), keyword {_fmt(parts['keyword'])}", "", "", ""))
        rows.append(("", "one more article written and found by keyword search",
                     _fmt(size["new_article_searchable_ms"], " ms"), "", ""))
    return rows


def _ask_rows(ask: dict) -> list[tuple[str, ...]]:
    o, r = ask["ours_ms"], ask["raw_ms"]
    return [
        ("ask", f"{ask['questions']} questions: total p50 / p95 ms (raw: the model's judged texts)",
         f"{_fmt(o['total_ms']['p50'])} / {_fmt(o['total_ms']['p95'])}",
         f"{_fmt(r['raw_ms']['p50'])} / {_fmt(r['raw_ms']['p95'])}", _fmt(ask["ratio"])),
        ("", "retrieve / analyse / score and judge p50 ms",
         f"{_fmt(o['retrieve_ms']['p50'])} / {_fmt(o['verify_ms']['p50'])} / {_fmt(o['generate_ms']['p50'])}", "", ""),
        ("", "added around the model (total - judge) p50 ms", _fmt(o["overhead_ms"]["p50"]), "", ""),
        ("", "candidates judged per question (mean)", _fmt(ask["judged_mean"]), "", ""),
    ]


def _serve_rows(serve: dict) -> list[tuple[str, ...]]:
    return [
        ("serve", "start-up until /readyz", _fmt(serve["startup_s"], " s"), "", ""),
        ("", f"peak RSS after {serve['http_asks']} asks", _fmt(serve["peak_rss_mb"], " MB"), "", ""),
        ("", "HTTP ask p50 ms", _fmt(serve["http_ask_ms"]["p50"]), "", ""),
    ]


_SECTION_ROWS = {"ingest": _ingest_rows, "retrieval": _search_rows, "ask": _ask_rows, "serve": _serve_rows}
