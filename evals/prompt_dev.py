"""Tune the answer prompt on a small hand-written dev set (evals/prompt_dev.jsonl).

Runs the real model, evidence ranking and checker through ``Answerer.answer_from``
(the path after retrieval): the dev items carry their own passages. Usage:

    .venv/bin/python -m evals.prompt_dev [--template PATH] [--only ID ...]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from index.embeddings import Embedder
from qa_service.answering import AnswerEvent, Answerer, Question, TokenEvent
from qa_service.citations import CitationChecker
from qa_service.evidence import sentences_of
from qa_service.generation import LlamaCppGenerator
from qa_service.models import Passage
from qa_service.prompting import PromptBuilder, load_template
from qa_service.services import embedder_for
from qa_service.settings import Settings

DEV_SET = Path(__file__).with_name("prompt_dev.jsonl")


@dataclass(frozen=True)
class Row:
    id: str
    raw: str
    kept: str  # "" when the pipeline abstains
    hit: bool
    unanswerable: bool
    prompt_tokens: int
    seconds: float


def to_passages(item: dict) -> list[Passage]:
    return [
        Passage(n=n, chunk_id=f"{item['id']}-{n}", article_id=f"{item['id']}-{n}", title=p["title"],
                published_at=p["published_at"], text=p["text"], start=0, end=len(p["text"]), score=1.0,
                sentences=sentences_of(p["text"], 0))
        for n, p in enumerate(item["passages"], 1)
    ]


def run_item(item: dict, answerer: Answerer, embedder: Embedder) -> Row:
    """One dev item through the Answerer's own path after retrieval (the item carries its passages)."""
    question = Question(item["question"], len(item["passages"]))
    raw, prompt_tokens = "", 0
    started = time.perf_counter()
    for event in answerer.answer_from(question, to_passages(item), embedder.embed_query(item["question"])):
        if isinstance(event, TokenEvent):
            raw += event.text
        elif isinstance(event, AnswerEvent):
            answer = event.answer
    seconds = time.perf_counter() - started
    if raw:
        prompt_tokens = answerer.generator.count_tokens(answerer.generator.last_prompt)
    kept = "" if answer.abstained else answer.answer
    expected = item["expected"]
    hit = any(a.lower() in kept.lower() for a in expected) if expected else not kept
    return Row(item["id"], raw.strip(), kept, hit, not expected, prompt_tokens, seconds)


def summary(rows: list[Row]) -> str:
    answerable = [r for r in rows if not r.unanswerable]
    unanswerable = [r for r in rows if r.unanswerable]
    rate = lambda rs: sum(r.hit for r in rs) / max(len(rs), 1)  # noqa: E731
    return (f"answer hit {rate(answerable):.2f} ({len(answerable)}) | "
            f"abstain acc {rate(unanswerable):.2f} ({len(unanswerable)}) | "
            f"prompt tokens {sum(r.prompt_tokens for r in rows) / len(rows):.0f} | "
            f"seconds {sum(r.seconds for r in rows) / len(rows):.2f}")


class _Recording:
    """Our generator, keeping the last prompt so its size can be reported."""

    def __init__(self, inner: LlamaCppGenerator) -> None:
        self.inner, self.name, self.last_prompt = inner, inner.name, ""

    def prime(self, prefix: str) -> None:
        self.inner.prime(prefix)

    def stream(self, prompt, max_tokens, stop, usage=None):
        self.last_prompt = prompt
        return self.inner.stream(prompt, max_tokens, stop, usage)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def likelihoods(self, contexts, target):
        return self.inner.likelihoods(contexts, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, help="answer template (default: prompts/answer.txt)")
    parser.add_argument("--only", nargs="*", help="item ids to run")
    args = parser.parse_args()
    template = args.template.read_text(encoding="utf-8") if args.template else load_template("answer.txt")
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [i for i in items if not args.only or i["id"] in args.only]

    settings = Settings(llm_backend="llama_cpp")
    generator = _Recording(LlamaCppGenerator(settings.generation))
    embedder = embedder_for(settings)
    answerer = Answerer(None, PromptBuilder(template), generator,  # type: ignore[arg-type]
                        CitationChecker(embedder, settings.checking), settings.generation, settings.checking)
    print(f"fixed prompt tokens: {generator.count_tokens(template)}")
    rows = []
    for item in items:
        row = run_item(item, answerer, embedder)
        rows.append(row)
        mark = "ok " if row.hit else "MISS"
        print(f"{mark} {row.id:<10} {row.prompt_tokens:>4}t {row.seconds:5.1f}s | raw: {row.raw!r}\n"
              f"{'':>16} kept: {row.kept or '(abstain)'}")
    print(summary(rows))


if __name__ == "__main__":
    main()
