"""Fit the reader's candidate scorer (``qa_service/rules/reader_weights.json``) on development data.

    python -m evals.train_reader --newsroom ../shared/data/newsroom-dev \\
        --squad ../shared/data/squad2/normans-dev-v2.0.json --demo [--index-dir DIR] [--write]

Every question is retrieved and read as the service does (real MiniLM,
Chroma, spaCy); each candidate span is labelled by the gold answers (right
when its token F1 with a gold alias is at least 0.5, or it contains one),
and a logistic regression over the reader's features is fitted on half of
the questions (even positions of each set). The abstention threshold is the
one that answers the most of that half right (answerable: the best candidate
is right; unanswerable: abstained), where the best is the service's choice: the
model judges the ``QA_JUDGE_CANDIDATES`` best, as in an answer (0: the reader's
first). The other half is the report: the
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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from index.article import Article
from index.demo import demo_corpus_path
from index.loaders import load_paths
from qa_service.asked import AskedQuestion, analyse_question
from qa_service.models import Filters
from qa_service.reader import (
    CONFIDENCE_FEATURES,
    FEATURES,
    Candidate,
    Judge,
    candidates_in,
    confidence_features,
    judged_best,
    pool_of,
    read_sentences,
)
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


@dataclass
class Row:
    """One question as read: its candidates, their features and labels."""

    asked: Asked
    question: AskedQuestion
    features: np.ndarray
    labels: np.ndarray
    candidates: list[Candidate]
    judge: Judge | None = None  # the model's say on the best candidates, as the service asks it


def collect(services: Services, asked: list[Asked]) -> list[Row]:
    rows = []
    judging = services.settings.generation.judge_candidates > 0
    if judging:
        services.answerer.warm_up()
    for a in asked:
        found = services.retriever.retrieve(a.question, services.settings.top_k, a.filters)
        q = analyse_question(a.question)
        candidates: list[Candidate] = []
        if found.relevant:
            sentences = read_sentences(q, found.passages, services.sentence_vectors.of(found.passages),
                                       found.query_vector)
            candidates = [c for rank, s in enumerate(pool_of(sentences)) for c in candidates_in(q, s, rank)]
        labels = [float(bool(a.answers) and is_right(c.text, a.answers)) for c in candidates]
        features = np.array([c.features for c in candidates], dtype=float).reshape(-1, len(FEATURES))
        judge = _remembered(services.answerer.judge(a.question)) if judging else None
        rows.append(Row(a, q, features, np.array(labels), candidates, judge))
    return rows


def _remembered(judge: Judge) -> Judge:
    """``judge``, asking the model only about candidates it has not judged yet: the fit
    rescores every question several times."""
    seen: dict[tuple, float] = {}

    def remembered(candidates: list[Candidate]) -> list[float] | None:
        new = [c for c in candidates if (c.source.key, c.text) not in seen]
        if new:
            got = judge(new)
            if got is None:
                return None
            seen.update(zip(((c.source.key, c.text) for c in new), got, strict=True))
        return [seen[(c.source.key, c.text)] for c in candidates]
    return remembered


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def fit_ranking(rows: list[Row], l2: float = 0.01, steps: int = 2000, rate: float = 0.5) -> np.ndarray:
    """Weights that rank a question's right candidates first, then a bias that places the
    scores on a probability scale.

    The ranking is a conditional logit (softmax over one question's candidates, the
    likelihood of the right ones), the choice the reader makes; it ignores the bias.
    The bias is then fitted pointwise (right or not) with the ranking weights fixed.
    Plain numpy gradient descent: no learning library is a dependency.
    """
    groups = [(r.features, r.labels) for r in rows if len(r.features) and r.labels.any()]
    w = np.zeros(len(FEATURES))
    for _ in range(steps):
        grad = l2 * np.r_[0, w[1:]]
        for f, labels in groups:
            z = f @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            q = p * labels
            q /= q.sum()
            grad += f.T @ (p - q) / len(groups)
        w -= rate * grad
    x = np.vstack([r.features for r in rows if len(r.features)])
    y = np.concatenate([r.labels for r in rows if len(r.features)])
    w[0] = _fit_logistic(x @ w - w[0], y)
    return w


def _fit_logistic(z: np.ndarray, y: np.ndarray) -> float:
    """The bias that calibrates fixed scores ``z`` to labels ``y``."""
    bias = 0.0
    for _ in range(2000):
        bias -= float(np.mean(_sigmoid(z + bias) - y))
    return bias


def rescored(rows: list[Row], w: np.ndarray, judged: int = 0) -> list[tuple[Row, list[Candidate], int | None]]:
    """Each question's candidates scored with ``w``, and the index of the one the service
    answers with: the best, or with ``judged``, the model's pick among that many best."""
    found = []
    for r in rows:
        scores = _sigmoid(r.features @ w) if len(r.features) else np.array([])
        candidates = [replace(c, score=float(p)) for c, p in zip(r.candidates, scores, strict=True)]
        best = judged_best(candidates, r.judge, judged)
        found.append((r, candidates, next(i for i, c in enumerate(candidates) if c is best) if best else None))
    return found


def fit_confidence(scored, l2: float = 0.01, steps: int = 3000, rate: float = 0.5) -> np.ndarray:
    """Logistic regression of "the best candidate is right" on the question-level features."""
    x = np.array([confidence_features(r.question, c) for r, c, best in scored if best is not None])
    y = np.array([float(r.labels[best]) for r, c, best in scored if best is not None])
    w = np.zeros(len(CONFIDENCE_FEATURES))
    for _ in range(steps):
        w -= rate * (x.T @ (_sigmoid(x @ w) - y) / len(y) + l2 * np.r_[0, w[1:]])
    return w


def outcomes(scored, v: np.ndarray) -> list[tuple[str, bool, float, bool, bool]]:
    """Per question: (set, answerable, confidence, best candidate right, some candidate right)."""
    return [(r.asked.set_name, bool(r.asked.answers),
             float(_sigmoid(confidence_features(r.question, c) @ v)) if best is not None else 0.0,
             bool(best is not None and r.labels[best]), bool(r.labels.any())) for r, c, best in scored]


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
            "abstain_recall": round(sum(r[2] < threshold for r in mine if not r[1])
                                    / max(1, len(mine) - len(answerable)), 3),
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
        judged = models.settings.generation.judge_candidates
        w = fit_ranking(train)
        v = fit_confidence(rescored(train, w, judged))
        fitted = outcomes(rescored(train, w, judged), v)
        threshold = max(np.linspace(0.05, 0.95, 91), key=lambda t: accuracy(fitted, float(t)))
        report = {"threshold": round(float(threshold), 2), "judged": judged, "fitted_half": summary(fitted, threshold),
                  "held_out_half": summary(outcomes(rescored(test, w, judged), v), threshold)}
    print(json.dumps({"weights": dict(zip(FEATURES, np.round(w, 3).tolist(), strict=True)),
                      "confidence_weights": dict(zip(CONFIDENCE_FEATURES, np.round(v, 3).tolist(), strict=True)),
                      **report}, indent=1))
    if args.write:
        WEIGHTS.write_text(json.dumps({
            "note": "fitted by `python -m evals.train_reader` on the even-numbered questions of each set; "
                    "held_out_half is scored on the odd ones",
            "features": list(FEATURES), "weights": np.round(w, 4).tolist(),
            "confidence_features": list(CONFIDENCE_FEATURES), "confidence_weights": np.round(v, 4).tolist(),
            **report}, indent=1) + "\n",
            encoding="utf-8")


if __name__ == "__main__":
    main()
