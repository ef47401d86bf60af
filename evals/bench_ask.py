"""Ask latency on the demo corpus against raw llama-cpp-python completing the same prompt."""
from __future__ import annotations

import time
from importlib import resources

from evals.bench_stats import ratio, spread
from evals.gold import GoldItem, load_gold
from evals.runner import temporary_services
from index.demo import demo_corpus_path
from index.loaders import load_paths
from qa_service.answering import Question
from qa_service.models import Passage
from qa_service.prompting import STOP
from qa_service.services import Services


def demo_questions(n: int) -> list[GoldItem]:
    """The first ``n`` answerable questions of the shipped demo gold set."""
    path = resources.files("evals").joinpath("gold/demo.jsonl")
    return [item for item in load_gold(str(path)) if item.answers][:n]


def bench_ask(models: Services, n_questions: int) -> dict:
    """Per question: our full answer path, then a raw ``Llama`` (same parameters) completing
    the prompt we built, for the same max tokens. One extra question warms both up first."""
    from llama_cpp import Llama

    items = demo_questions(n_questions + 1)
    loaded = load_paths([demo_corpus_path()], max_file_bytes=models.settings.max_file_bytes)
    # The same construction parameters as our generator's model (it is the embedded llama.cpp one).
    raw = Llama(**models.generator.llama_params())
    recorder = _RecordingGenerator(models.generator)
    rows = []
    try:
        with temporary_services(models, generator=recorder) as services:
            services.ingestor.ingest(loaded.articles)
            for item in items:
                ours = _ask(services, recorder, item)
                rows.append({**ours, **_complete(raw, ours.pop("prompt"), services.answerer.max_tokens)})
    finally:
        raw.close()
    measured = rows[1:]
    totals = {name: sum(r[name] for r in measured) for name in ("total_ms", "raw_ms")}
    return {
        "questions": len(measured),
        "answered": sum(not r["abstained"] for r in measured),
        "ours_ms": {name: spread([r[name] for r in measured if r[name] is not None])
                    for name in ("total_ms", "retrieve_ms", "first_token_ms", "generate_ms", "verify_ms",
                                 "overhead_ms")},
        "raw_ms": {name: spread([r[name] for r in measured if r[name] is not None])
                   for name in ("raw_ms", "raw_first_token_ms")},
        "tokens_per_s_p50": spread([r["tokens_per_s"] for r in measured if r["tokens_per_s"]])["p50"],
        "raw_tokens_per_s_p50": spread([r["raw_tokens_per_s"] for r in measured if r["raw_tokens_per_s"]])["p50"],
        "prompt_tokens_mean": round(sum(r["prompt_tokens"] for r in measured) / len(measured)),
        "answer_tokens_mean": round(sum(r["tokens"] for r in measured) / len(measured), 1),
        "raw_tokens_mean": round(sum(r["raw_tokens"] for r in measured) / len(measured), 1),
        # Sum over the questions: long answers weigh more, as they do for a user.
        "ratio": ratio(totals["total_ms"], totals["raw_ms"]),
    }


class _RecordingGenerator:
    """Our generator, keeping the last prompt (for the raw side) and when its first piece came."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.prompt = inner, inner.name, ""
        self.first_piece_at: float | None = None

    def start(self) -> None:
        """A new question: forget the previous one's prompt and first piece."""
        self.prompt, self.first_piece_at = "", None

    def prime(self, prefix: str) -> None:
        self.inner.prime(prefix)

    def stream(self, prompt, max_tokens, stop, usage=None):
        self.prompt = prompt
        for piece in self.inner.stream(prompt, max_tokens, stop, usage):
            if self.first_piece_at is None:
                self.first_piece_at = time.perf_counter()
            yield piece

    def likelihoods(self, contexts, target):
        return self.inner.likelihoods(contexts, target)


def _ask(services: Services, recorder: _RecordingGenerator, item: GoldItem) -> dict:
    """Our answer path; time to first token is measured from the question."""
    question = Question(item.question, services.settings.top_k, None, item.as_of)
    passages: list[Passage] = []
    recorder.start()
    started = time.perf_counter()
    result = services.answerer.result(question, passages.extend)
    answer, usage = result.answer, result.usage
    first_token_ms = (recorder.first_piece_at - started) * 1000 if recorder.first_piece_at else None
    t = answer.timings_ms
    return {
        "id": item.id, "abstained": answer.abstained, "total_ms": t["total"], "retrieve_ms": t["retrieve"],
        "generate_ms": t["generate"], "verify_ms": t["verify"], "first_token_ms": first_token_ms,
        # What our layer adds around the model: retrieval, prompt building, verification.
        "overhead_ms": round(t["total"] - t["generate"], 1),
        "tokens": usage.tokens, "tokens_per_s": _rate(usage.tokens, t["generate"], usage.first_token_ms),
        # Abstaining before generation sends no prompt; the raw side still completes one.
        "prompt": recorder.prompt or services.answerer.prompts.build(item.question, passages),
    }


def _complete(llm, prompt: str, max_tokens: int) -> dict:
    """Raw streamed completion with the sampling settings our generator uses."""
    started = time.perf_counter()
    first_ms, tokens = None, 0
    for _ in llm.create_completion(prompt, max_tokens=max_tokens, stop=STOP, temperature=0.0,
                                   repeat_penalty=1.1, stream=True):
        tokens += 1
        if first_ms is None:
            first_ms = (time.perf_counter() - started) * 1000
    total_ms = (time.perf_counter() - started) * 1000
    return {
        "raw_ms": round(total_ms, 1), "raw_first_token_ms": first_ms, "raw_tokens": tokens,
        "raw_tokens_per_s": _rate(tokens, total_ms, first_ms),
        "prompt_tokens": len(llm.tokenize(prompt.encode("utf-8"), add_bos=False)),
    }


def _rate(tokens: int, total_ms: float, first_ms: float | None) -> float | None:
    """Generation speed: tokens after the first over the time after the first."""
    if tokens < 2 or first_ms is None or total_ms <= first_ms:
        return None
    return round((tokens - 1) / ((total_ms - first_ms) / 1000), 1)
