"""Fit the reader's candidate scorer (``qa_service/rules/reader_weights.json``) on development data.

    python -m evals.train_reader --newsroom ../shared/data/newsroom-dev \\
        --squad ../shared/data/squad2/normans-dev-v2.0.json --demo [--index-dir DIR] [--write]

Every question is retrieved and read as the service does (real MiniLM,
Chroma, spaCy); each candidate span is labelled by the gold answers (right
when its token F1 with a gold alias is at least 0.5, or it contains one),
and a logistic regression over the reader's features is fitted on half of
the questions (even positions of each set). The abstention threshold is the
one that answers the most of that half right (answerable: the best candidate
is right; unanswerable: abstained). The other half is the report: the
figures printed for it were not seen by the fit. ``--write`` stores the
weights, the threshold and these figures.
"""
from __future__ import annotations

import argparse
import json
import re
import string
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.article import Article
from index.demo import demo_corpus_path
from index.loaders import load_paths
from qa_service.asked import analyse_question
from qa_service.models import Filters
from qa_service.reader import FEATURES, candidates_in, pool_of, read_sentences
from qa_service.services import Services
from qa_service.settings import Settings

WEIGHTS = Path(__file__).resolve().parent.parent / "qa_service" / "rules" / "reader_weights.json"


@dataclass
class Asked:
    set_name: str
    id: str
    question: str
    answers: list[str]  # [] = unanswerable
    filters: Filters | None = None


def _norm(text: str) -> list[str]:
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def _f1(pred: str, gold: str) -> float:
    p, g = _norm(pred), _norm(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def is_right(candidate: str, answers: list[str]) -> bool:
    joined = " ".join(_norm(candidate))
    return any(_f1(candidate, a) >= 0.5 or f" {' '.join(_norm(a))} " in f" {joined} " for a in answers)


def newsroom(directory: Path) -> tuple[list[Article], list[Asked]]:
    articles = load_paths([directory / "articles.jsonl"]).articles
    asked = []
    for line in (directory / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        answers = q.get("all_of") or q["answers"] if q["answerable"] and not q["open"] else []
        if q["answerable"] and q["open"]:
            continue  # answered by a statement, not a span: not what the scorer ranks
        asked.append(Asked("newsroom", q["id"], q["question"], list(answers)))
    return articles, asked


def squad(path: Path) -> tuple[list[Article], list[Asked]]:
    articles, asked = [], []
    for item in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for n, paragraph in enumerate(item["paragraphs"], 1):
            article = Article.create(title=f"{item['title']} {n}", body=paragraph["context"],
                                     url=f"squad://{item['title']}/{n}", source="squad")
            articles.append(article)
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(a["text"] for a in qa["answers"]))
                asked.append(Asked("squad", qa["id"], qa["question"], answers, Filters(article_ids=[article.id])))
    return articles, asked


def demo(gold: Path) -> tuple[list[Article], list[Asked]]:
    articles = load_paths([demo_corpus_path()]).articles
    lines = [line for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    asked = [Asked("demo", g["id"], g["question"], g["answers"]) for g in map(json.loads, lines)]
    return articles, asked


def collect(services: Services, asked: list[Asked]) -> list[tuple[Asked, np.ndarray, np.ndarray]]:
    """Per question: the feature matrix of its candidates and their labels."""
    rows = []
    for a in asked:
        found = services.retriever.retrieve(a.question, services.settings.top_k, a.filters)
        q = analyse_question(a.question)
        features, labels = [], []
        if found.relevant:
            sentences = read_sentences(q, found.passages, services.checker.sentence_vectors(found.passages),
                                       found.query_vector)
            for rank, s in enumerate(pool_of(sentences)):
                for c in candidates_in(q, s, rank):
                    features.append(c.features)
                    labels.append(float(bool(a.answers) and is_right(c.text, a.answers)))
        rows.append((a, np.array(features, dtype=float).reshape(-1, len(FEATURES)), np.array(labels)))
    return rows


def fit(rows, l2: float = 0.01, steps: int = 2000, rate: float = 0.5) -> np.ndarray:
    """Weights that rank a question's right candidates first, then a bias that places the
    scores on a probability scale.

    The ranking is a conditional logit (softmax over one question's candidates, the
    likelihood of the right ones), the choice the reader makes; it ignores the bias.
    The bias is then fitted pointwise (right or not) with the ranking weights fixed.
    Plain numpy gradient descent: no learning library is a dependency.
    """
    groups = [(f, l) for _, f, l in rows if len(f) and l.any()]
    w = np.zeros(len(FEATURES))
    for _ in range(steps):
        grad = l2 * np.r_[0, w[1:]]
        for f, l in groups:
            z = f @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            q = p * l
            q /= q.sum()
            grad += f.T @ (p - q) / len(groups)
        w -= rate * grad
    x = np.vstack([f for _, f, _ in rows if len(f)])
    y = np.concatenate([l for _, f, l in rows if len(f)])
    z = x @ w - w[0]
    bias = 0.0
    for _ in range(2000):
        p = 1 / (1 + np.exp(-(z + bias)))
        bias -= 1.0 * float(np.mean(p - y))
    w[0] = bias
    return w


def outcomes(rows, w: np.ndarray) -> list[tuple[str, bool, float, bool, bool]]:
    """Per question: (set, answerable, best score, best candidate right, some candidate right)."""
    found = []
    for a, f, l in rows:
        if len(f):
            scores = 1 / (1 + np.exp(-(f @ w)))
            best = int(np.argmax(scores))
            found.append((a.set_name, bool(a.answers), float(scores[best]), bool(l[best]), bool(l.any())))
        else:
            found.append((a.set_name, bool(a.answers), 0.0, False, False))
    return found


def accuracy(results, threshold: float) -> float:
    right = [(s >= threshold and ok) if answerable else s < threshold for _, answerable, s, ok, _ in results]
    return sum(right) / len(right)


def summary(results, threshold: float) -> dict[str, dict[str, float]]:
    table = {}
    for name in sorted({r[0] for r in results}):
        mine = [r for r in results if r[0] == name]
        answerable = [r for r in mine if r[1]]
        answered = [r for r in mine if r[2] >= threshold]
        table[name] = {
            "questions": len(mine),
            "accuracy": round(accuracy(mine, threshold), 3),
            "recall": round(sum(r[2] >= threshold and r[3] for r in answerable) / max(1, len(answerable)), 3),
            "precision": round(sum(r[1] and r[3] for r in answered) / max(1, len(answered)), 3),
            "abstain_recall": round(sum(r[2] < threshold for r in mine if not r[1]) / max(1, len(mine) - len(answerable)), 3),
            "best_right": round(sum(r[3] for r in answerable) / max(1, len(answerable)), 3),
            "some_candidate_right": round(sum(r[4] for r in answerable) / max(1, len(answerable)), 3),
        }
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--newsroom", type=Path)
    parser.add_argument("--squad", type=Path)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--index-dir", type=Path, help="keep the indexes here between runs (default: temporary)")
    parser.add_argument("--write", action="store_true", help="store the fitted weights and threshold")
    args = parser.parse_args()
    root = args.index_dir or Path(tempfile.mkdtemp(prefix="qa-train-"))
    sets = []
    if args.newsroom:
        sets.append(("newsroom", *newsroom(args.newsroom)))
    if args.squad:
        sets.append(("squad", *squad(args.squad)))
    if args.demo:
        sets.append(("demo", *demo(Path(__file__).parent / "gold" / "demo.jsonl")))
    train, test = [], []
    with Services(Settings(data_dir=root / "models")) as models:
        for name, articles, asked in sets:
            with models.variant(data_dir=root / name, chroma_host=None) as services:
                if services.store.count_articles() == 0:
                    services.ingestor.ingest(articles)
                rows = collect(services, asked)
            train += rows[0::2]
            test += rows[1::2]
    w = fit(train)
    fitted = outcomes(train, w)
    threshold = max(np.linspace(0.05, 0.95, 91), key=lambda t: accuracy(fitted, float(t)))
    report = {"threshold": round(float(threshold), 2), "fitted_half": summary(fitted, threshold),
              "held_out_half": summary(outcomes(test, w), threshold)}
    print(json.dumps({"weights": dict(zip(FEATURES, np.round(w, 3).tolist())), **report}, indent=1))
    if args.write:
        WEIGHTS.write_text(json.dumps({
            "note": "fitted by `python -m evals.train_reader` on the even-numbered questions of each set; "
                    "held_out_half is scored on the odd ones",
            "features": list(FEATURES), "weights": np.round(w, 4).tolist(), **report}, indent=1) + "\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
