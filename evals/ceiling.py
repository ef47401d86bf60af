"""How many RealTimeQA questions their week's articles can answer at all: an upper
bound for any answerer that quotes a sentence stating the answer.

    .venv/bin/python -m evals.ceiling ../shared/data/realtimeqa/2025

The week's articles are what a web search returned for each quiz question, so
a gold answer often occurs only in a sentence about something else. Per week,
the questions with a sentence that holds a gold alias (whole-token match, as
answer_recall), and with one that also shares at least two, or at least half,
of the question's content words. Where the hand audit in ``evals/audits``
covers a question, two more columns: the questions some sentence of the week
states the answer of (what an answerer that never cites a sentence about
something else can reach), and those plus the ones answered only by a story
of an earlier event of the same kind ("China's retaliatory tariffs" of 2018
for those of this week).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from evals.audit import AUDIT, load_audit
from evals.metrics import answer_recall
from evals.realtimeqa import Week, find_weeks, load_week
from index.sentences import split_sentences
from qa_service.asked import content_lemmas

COLUMNS = ("questions", "alias in a sentence", "+ 2 question words", "+ half the question words",
           "stated (hand audit)", "+ earlier events")


def audit_counts(week: Week, audit: dict[str, str]) -> tuple[int, int] | None:
    """Questions the week states the answer of, and those plus earlier events; None unless all are audited."""
    verdicts = [audit.get(item.id) for item in week.questions]
    if None in verdicts:
        return None
    stated = verdicts.count("stated")
    return stated, stated + verdicts.count("earlier_event")


def alias_sentences(week: Week, n: int = 4) -> dict[str, list[str]]:
    """Per question, the ``n`` distinct sentences holding a gold alias that share the most of
    its words, each with its story's date and title: what the hand audit was judged from."""
    found = [(a, s) for a in week.articles for s in split_sentences(a.body)]
    sentences = [(f"({(a.published_at or '-')[:10]} {a.title[:40]}) {s}", s, words)
                 for (a, s), words in zip(found, content_lemmas([s for _, s in found]), strict=True)]
    shown = {}
    for item in week.questions:
        asked = content_lemmas([item.question])[0]
        held = sorted((-len(asked & words), label) for label, s, words in sentences if answer_recall(s, item.answers))
        shown[item.id] = list(dict.fromkeys(label for _, label in held))[:n]
    return shown


def week_counts(week: Week) -> tuple[int, int, int, int]:
    texts = [s for a in week.articles for s in split_sentences(a.body)]
    sentences = list(zip(texts, content_lemmas(texts), strict=True))
    held = two = half = 0
    for item in week.questions:
        asked = content_lemmas([item.question])[0]
        shared = [len(asked & words) for s, words in sentences if answer_recall(s, item.answers)]
        held += bool(shared)
        two += max(shared, default=0) >= 2
        half += bool(asked) and max(shared, default=0) >= len(asked) / 2
    return len(week.questions), held, two, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a RealTimeQA folder (e.g. past/2025)")
    parser.add_argument("--audit", type=Path, default=AUDIT, help="hand audit JSONL (default: %(default)s)")
    parser.add_argument("--sentences", action="store_true", help="list each question's alias-bearing sentences instead")
    args = parser.parse_args()
    if args.sentences:
        for path in find_weeks(args.directory):
            week = load_week(path)
            for item, found in zip(week.questions, alias_sentences(week).values(), strict=True):
                print(f"\n## {item.id} | {item.question} | gold {list(item.answers)}")
                print("\n".join(f"  {label}" for label in found) or "  (no sentence holds a gold alias)")
        return
    audit = load_audit(args.audit)
    print("| week | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    total: list[int | None] = [0] * len(COLUMNS)
    for path in find_weeks(args.directory):
        week = load_week(path)
        counts = (*week_counts(week), *(audit_counts(week, audit) or (None, None)))
        total = [None if t is None or c is None else t + c for t, c in zip(total, counts, strict=True)]
        print(f"| {path.name[:8]} | " + " | ".join("-" if c is None else str(c) for c in counts) + " |")
    questions = total[0]
    if not questions:
        raise SystemExit(f"no questions under {args.directory}")
    shares = ["-" if c is None else f"{c} ({c / questions:.2f})" for c in total[1:]]
    print(f"| all | {questions} | " + " | ".join(shares) + " |")


if __name__ == "__main__":
    main()
