"""Tune the answer prompt on a small hand-written dev set (evals/prompt_dev.jsonl).

Runs the real model and citation checker the way ``Answerer.stream`` does,
minus retrieval: the dev items carry their own passages. Usage:

    .venv/bin/python -m evals.prompt_dev [--template PATH] [--only ID ...]
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

from index.embeddings import SentenceTransformerEmbedder
from qa_service.citations import CitationChecker
from qa_service.generation import LlamaCppGenerator, default_gguf_path
from qa_service.models import Passage
from qa_service.prompting import NOT_IN_ARTICLES, STOP, PromptBuilder, load_template

DEV_SET = Path(__file__).with_name("prompt_dev.jsonl")
MAX_TOKENS = 96  # as Answerer


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
                published_at=p["published_at"], text=p["text"], start=0, end=len(p["text"]), score=1.0)
        for n, p in enumerate(item["passages"], 1)
    ]


def run_item(item: dict, builder: PromptBuilder, generator: LlamaCppGenerator, checker: CitationChecker) -> Row:
    passages = to_passages(item)
    prompt = builder.build(item["question"], passages)
    started = time.perf_counter()
    raw = "".join(generator.stream(prompt, MAX_TOKENS, STOP)).strip()
    seconds = time.perf_counter() - started
    checked = [] if raw.startswith(NOT_IN_ARTICLES) else checker.check(raw, passages)
    kept = " ".join(s.text for s in checked if s.supported(checker.threshold))
    expected = item["expected"]
    hit = any(a.lower() in kept.lower() for a in expected) if expected else not kept
    return Row(item["id"], raw, kept, hit, not expected, generator.count_tokens(prompt), seconds)


def summary(rows: list[Row]) -> str:
    answerable = [r for r in rows if not r.unanswerable]
    unanswerable = [r for r in rows if r.unanswerable]
    rate = lambda rs: sum(r.hit for r in rs) / max(len(rs), 1)  # noqa: E731
    return (f"answer hit {rate(answerable):.2f} ({len(answerable)}) | "
            f"abstain acc {rate(unanswerable):.2f} ({len(unanswerable)}) | "
            f"prompt tokens {sum(r.prompt_tokens for r in rows) / len(rows):.0f} | "
            f"seconds {sum(r.seconds for r in rows) / len(rows):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, help="answer template (default: prompts/answer.txt)")
    parser.add_argument("--only", nargs="*", help="item ids to run")
    args = parser.parse_args()
    template = args.template.read_text(encoding="utf-8") if args.template else load_template("answer.txt")
    items = [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = [i for i in items if not args.only or i["id"] in args.only]

    builder = PromptBuilder(template)
    generator = LlamaCppGenerator(default_gguf_path())
    checker = CitationChecker(SentenceTransformerEmbedder("all-MiniLM-L6-v2"), 0.5)
    print(f"fixed prompt tokens: {generator.count_tokens(template)}")
    rows = []
    for item in items:
        row = run_item(item, builder, generator, checker)
        rows.append(row)
        mark = "ok " if row.hit else "MISS"
        print(f"{mark} {row.id:<10} {row.prompt_tokens:>4}t {row.seconds:5.1f}s | raw: {row.raw!r}\n"
              f"{'':>16} kept: {row.kept or '(abstain)'}")
    print(summary(rows))


if __name__ == "__main__":
    main()
