"""``qa-service bench --scale N``: the service over an index of N chunks of news text.

Texts: the stories of a RealTimeQA pool (``--pool DIR``, its weekly files, read by the eval's
loader; no network), each synthetic article a story's paragraphs mixed with one paragraph of
another story, so that a million chunks are distinct; without a pool, the generated news bank
of the other sections. Queries: the pool's quiz questions (or the bank's).

Vectors are synthetic (``evals.bench_search.SyntheticIndex``: noise around the real embedding of
the story's title): MiniLM embeds about 25-40 chunks/s on these 2 cores, so a million real
chunks would take 7-11 hours and measure the embedder, not the index. The real embedding rate is
measured on a sample and reported beside, with what a real ingest of N chunks would take.
Sentence vectors are written only with ``sentence_vectors`` (``--sentence-vectors K``: K synthetic
sentence rows a chunk, as ``SyntheticIndex`` draws them; ingest writes about 6), so that their disk
and memory can be told apart from the chunk index's (docs/performance-history.md, "Sentence
vectors at scale").

Then ``qa-service serve`` runs on the index as a user would run it: seconds until /readyz, /v1/search
p50/p95 unfiltered and with a source filter, the time from a new article's POST returning to
/v1/search finding it, the server's RSS after those searches and its peak, the index's size on disk.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from evals.bench_corpus import topics
from evals.bench_search import N_TOPICS, SyntheticIndex, TopicText, source_name
from evals.bench_serve import _command, _environment, _free_port, _memory_mb, _stop, _wait_ready
from evals.bench_stats import spread, timed
from evals.realtimeqa import load_weeks
from qa_service.services import Services

# Articles spread over this many sources: a source filter keeps one in 16 chunks.
SOURCES = 16
# Chunk texts embedded for real, to report the embedding rate.
EMBED_SAMPLE = 256
SEARCHABLE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PoolStory:
    """One story of a news pool as a synthetic article's topic: its paragraphs, mixed with the pool's."""

    title: str
    paragraphs: tuple[str, ...]
    pool: list[str] = field(repr=False, compare=False)  # every paragraph of the pool
    questions: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.title}. {self.paragraphs[0]}"

    def question(self, rng: random.Random) -> str:
        return rng.choice(self.questions) if self.questions else self.title

    def passage(self, rng: random.Random) -> str:
        """Two or three of the story's paragraphs in a row, and one from anywhere in the pool."""
        start = rng.randrange(len(self.paragraphs))
        own = list(self.paragraphs[start : start + rng.randint(2, 3)])
        own.insert(rng.randrange(len(own) + 1), rng.choice(self.pool))
        return " ".join(own)

    def headline(self, n: int) -> str:
        return f"{self.title} ({n})"


def news_pool(directory: Path) -> list[PoolStory]:
    """The distinct stories of every week under ``directory``, each with the week's questions."""
    weeks = load_weeks(directory)
    paragraphs: list[str] = []
    stories: dict[str, tuple[str, list[str]]] = {}
    questions: list[str] = []
    for week in weeks:
        questions += [item.question for item in week.questions]
        for article in week.articles:
            parts = [p.strip() for p in article.body.split("\n\n") if len(p.strip()) > 40]
            if parts and article.id not in stories:
                stories[article.id] = (article.title, parts)
                paragraphs += parts
    rng = random.Random(17)
    return [PoolStory(title, tuple(parts), paragraphs, tuple(rng.sample(questions, min(3, len(questions)))))
            for title, parts in stories.values()]


def bench_scale(models: Services, n_chunks: int, pool_dir: Path | None, n_queries: int = 50,
                keep: Path | None = None, sentence_vectors: int = 0) -> dict:
    """Build an ``n_chunks`` index, serve it, measure; the index is removed unless ``keep`` names a directory.
    A ``keep`` directory already holding ``n_chunks`` chunks is served and measured as it is, not rebuilt."""
    data_dir = keep or Path(tempfile.mkdtemp(prefix="qa-bench-scale-"))
    try:
        pool: list[TopicText] = list(news_pool(pool_dir)) if pool_dir else list(topics(N_TOPICS, seed=3))
        build = _build(models, data_dir, pool, n_chunks, sentence_vectors)
        rng = random.Random(5)
        queries = [rng.choice(pool).question(rng) for _ in range(n_queries)]
        served = _serve(data_dir, queries)
        sample = [p.passage(rng) for p in rng.sample(pool, min(len(pool), EMBED_SAMPLE))]
        _, embed_ms = timed(lambda: models.embedder.embed(sample))
    finally:
        if keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    rate = len(sample) / (embed_ms / 1000)
    return {
        "chunks": n_chunks, "texts": "news pool" if pool_dir else "generated bank", "stories": len(pool),
        **build, **served, "disk_mb": served.pop("disk_mb"),
        "real_embedding": {"chunks_per_s": round(rate, 1), "hours_for_all": round(n_chunks / rate / 3600, 2)},
    }


def _build(models: Services, data_dir: Path, pool: list[TopicText], n_chunks: int, sentence_vectors: int = 0) -> dict:
    """Write ``n_chunks`` synthetic chunks into ``data_dir``, or nothing when it already holds as many
    (a ``--keep`` directory of an earlier run: measured again without the build's hour at 1M)."""
    with models.variant(data_dir=data_dir, chroma_host=None) as services:
        held = services.store.count_chunks()
        if held >= n_chunks:
            print(f"bench --scale: {held:,} chunks already in {data_dir}: measuring them, not building", flush=True)
            return {"written": held, "reused": True, "sentences": services.store.sentences.count()}
        centres = models.embedder.embed([t.describe() for t in pool])
        index = SyntheticIndex(services.store, centres, pool, sources=SOURCES, sentences_per_chunk=sentence_vectors)
        write_ms = 0.0
        step = max(n_chunks // 10, 1000)
        for size in range(step, n_chunks + step, step):
            write_ms += index.grow_to(min(size, n_chunks))
            print(f"bench --scale: {services.store.count_chunks():,} chunks, "
                  f"{services.store.count_chunks() / (write_ms / 1000):.0f} chunks/s", flush=True)
        written = services.store.count_chunks()
        sentences = services.store.sentences.count()
    return {"written": written, "sentences": sentences, "write_s": round(write_ms / 1000, 1),
            "write_chunks_per_s": round(written / (write_ms / 1000), 1)}


def _serve(data_dir: Path, queries: list[str]) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(_command(port), env=_environment(data_dir), stdout=sink, stderr=subprocess.STDOUT)
        try:
            startup_s = _wait_ready(process, base, started, log)
            with httpx.Client(base_url=base, timeout=120) as client:
                result = {"startup_s": round(startup_s, 1), "rss_ready_mb": _memory_mb(process.pid, "VmRSS"),
                          "search_ms": _searches(client, queries, None),
                          "search_one_source_ms": _searches(client, queries, [source_name(1)]),
                          "rss_searched_mb": _memory_mb(process.pid, "VmRSS"), **_new_article(client)}
            result["peak_rss_mb"] = _memory_mb(process.pid, "VmHWM")
        finally:
            _stop(process)
    result["disk_mb"] = round(sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file()) / 2**20, 1)
    return result


def _searches(client: httpx.Client, queries: list[str], sources: list[str] | None) -> dict:
    filters = {"filters": {"sources": sources}} if sources else {}
    for q in queries[:3]:  # warm-up: the first searches fault the index's pages in
        client.post("/v1/search", json={"query": q, **filters}).raise_for_status()
    times = []
    for q in queries:
        response, ms = timed(partial(client.post, "/v1/search", json={"query": q, **filters}))
        response.raise_for_status()
        times.append(ms)
    return spread(times)


def _new_article(client: httpx.Client) -> dict:
    """POST one new article; then the time until /v1/search finds it, by its words and by its vector."""
    marker = f"Quillfeather{time.time_ns()}"
    article = {"title": f"{marker} harbour tunnel opens", "source": "bench-new", "published_at": "2025-06-01",
               "body": f"The {marker} harbour tunnel opened to traffic on Monday after six years of work. "
                       "The city expects 40,000 vehicles a day to use it."}
    response, post_ms = timed(lambda: client.post("/v1/articles", json=article))
    response.raise_for_status()
    since = time.perf_counter()
    while time.perf_counter() - since < SEARCHABLE_TIMEOUT_S:
        found = client.post("/v1/search", json={"query": f"{marker} harbour tunnel", "top_k": 5}).json()
        if any(marker in p["title"] for p in found["passages"]):
            return {"new_article_post_ms": round(post_ms), "new_article_found_after_ms":
                    round((time.perf_counter() - since) * 1000)}
        time.sleep(0.05)
    raise RuntimeError(f"the new article was not found by /v1/search within {SEARCHABLE_TIMEOUT_S:.0f} s")
