"""Ask latency on the demo corpus against raw llama-cpp-python evaluating the same model calls.

Our answer path is retrieval, the reader (spaCy analysis and scoring) and the
model's judgement of the best candidates (its likelihood of each as the
answer). The raw side is a bare ``Llama`` with the same parameters evaluating
the same judged texts (context and candidate), one call each: the model's own
cost of what the answer asked of it.
"""
from __future__ import annotations

import time
from importlib import resources

from evals.bench_stats import ratio, spread
from evals.gold import GoldItem, load_gold
from evals.runner import temporary_services
from index.demo import demo_corpus_path
from index.loaders import load_paths
from qa_service.answering import Question
from qa_service.generation import LlamaCppGenerator
from qa_service.services import Services


def demo_questions(n: int) -> list[GoldItem]:
    """The first ``n`` answerable questions of the shipped demo gold set."""
    path = resources.files("evals").joinpath("gold/demo.jsonl")
    return [item for item in load_gold(str(path)) if item.answers][:n]


def bench_ask(models: Services, n_questions: int) -> dict:
    """Per question: our full answer path, then the raw model evaluating the texts it judged.
    One extra question warms both up first."""
    from llama_cpp import Llama

    items = demo_questions(n_questions + 1)
    loaded = load_paths([demo_corpus_path()], max_file_bytes=models.settings.max_file_bytes)
    generator = models.generator
    if not isinstance(generator, LlamaCppGenerator):
        raise TypeError(f"the raw ask baseline is llama.cpp; this generator is {type(generator).__name__}")
    raw = Llama(**generator.llama_params())
    recorder = _RecordingGenerator(models.generator)
    rows = []
    try:
        with temporary_services(models, generator=recorder) as services:
            services.ingestor.ingest(loaded.articles)
            for item in items:
                recorder.calls.clear()
                recorder.judged = 0
                ours = _ask(services, item)
                rows.append({**ours, **_evaluate(raw, list(recorder.calls)), "judged": recorder.judged})
    finally:
        raw.close()
    measured = rows[1:]
    totals = {name: sum(r[name] for r in measured) for name in ("total_ms", "raw_ms")}
    return {
        "questions": len(measured),
        "answered": sum(not r["abstained"] for r in measured),
        "ours_ms": {name: spread([r[name] for r in measured]) for name in
                    ("total_ms", "retrieve_ms", "generate_ms", "verify_ms", "overhead_ms")},
        "raw_ms": {"raw_ms": spread([r["raw_ms"] for r in measured])},
        "judged_mean": round(sum(r["judged"] for r in measured) / len(measured), 1),
        "ratio": ratio(totals["total_ms"], totals["raw_ms"]),
    }


class _RecordingGenerator:
    """Our generator, keeping the (context, target) pairs the reader asked it to judge
    (each candidate after its sentence with and without the question) and the candidates' count."""

    def __init__(self, inner) -> None:
        self.inner, self.name = inner, inner.name
        self.calls: list[tuple[str, str]] = []
        self.judged = 0

    def prime(self, prefix: str) -> None:
        self.inner.prime(prefix)

    def likelihoods(self, context, endings, targets):
        self.calls += [(context + ending, target) for ending in endings for target in targets]
        self.judged += len(targets)
        return self.inner.likelihoods(context, endings, targets)


def _ask(services: Services, item: GoldItem) -> dict:
    result = services.answerer.result(Question(item.question, services.settings.top_k, None, item.as_of))
    t = result.answer.timings_ms
    return {"id": item.id, "abstained": result.answer.abstained, "total_ms": t["total"],
            "retrieve_ms": t["retrieve"], "generate_ms": t["generate"], "verify_ms": t["verify"],
            # What our layer adds around the model: retrieval and reading.
            "overhead_ms": round(t["total"] - t["generate"], 1)}


def _evaluate(llm, calls: list[tuple[str, str]]) -> dict:
    """The raw model evaluating each judged text from an empty context."""
    started = time.perf_counter()
    for context, target in calls:
        llm.reset()
        llm.eval(llm.tokenize((context + target).encode("utf-8"), add_bos=True))
    return {"raw_ms": round((time.perf_counter() - started) * 1000, 1)}
