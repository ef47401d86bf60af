"""How many RealTimeQA questions their week's articles can answer at all: an upper
bound for any answerer that quotes a sentence stating the answer.

    .venv/bin/python -m evals.ceiling ../shared/data/realtimeqa/2025

The week's articles are what a web search returned for each quiz question, so
a gold answer often occurs only in a sentence about something else. Per week,
the questions with a sentence that holds a gold alias (whole-token match, as
answer_recall), and with one that also shares at least two, or at least half,
of the question's content words.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from evals.metrics import answer_recall
from evals.realtimeqa import Week, find_weeks, load_week
from index.sentences import split_sentences
from qa_service.support import content_words

COLUMNS = ("questions", "alias in a sentence", "+ 2 question words", "+ half the question words")


def week_counts(week: Week) -> tuple[int, int, int, int]:
    sentences = [(s, content_words(s)) for a in week.articles for s in split_sentences(a.body)]
    held = two = half = 0
    for item in week.questions:
        asked = content_words(item.question)
        shared = [len(asked & words) for s, words in sentences if answer_recall(s, item.answers)]
        held += bool(shared)
        two += max(shared, default=0) >= 2
        half += bool(asked) and max(shared, default=0) >= len(asked) / 2
    return len(week.questions), held, two, half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a RealTimeQA folder (e.g. past/2025)")
    args = parser.parse_args()
    print("| week | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    total = [0] * len(COLUMNS)
    for path in find_weeks(args.directory):
        counts = week_counts(load_week(path))
        total = [t + c for t, c in zip(total, counts)]
        print(f"| {path.name[:8]} | " + " | ".join(map(str, counts)) + " |")
    shares = [f"{c} ({c / total[0]:.2f})" for c in total[1:]]
    print(f"| all | {total[0]} | " + " | ".join(shares) + " |")


if __name__ == "__main__":
    main()
