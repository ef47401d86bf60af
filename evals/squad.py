"""SQuAD 2.0 as an eval: every paragraph an article, every question a gold item, official scores.

Input is the official SQuAD JSON: ``data[]`` items with a ``title`` and
``paragraphs[]``, each with a ``context`` and ``qas[]`` (``id``, ``question``,
``answers[].text``, ``is_impossible``; ``plausible_answers`` is ignored).

Decisions:
- One Article per paragraph: title "<item title>, paragraph <n>" (n from 1),
  body the context unchanged, url ``squad://<item title>/<n>``, source "squad";
  its id is the one ingestion gives it (``index.article.Article.create``, a
  hash of the canonical url).
- A question's gold answers are its answers' texts, deduplicated in order;
  an ``is_impossible`` question has none (the right behaviour is to abstain).
  Each question is tagged with its kind (``evals.gold.question_kind``).
- Every paragraph of the file is indexed, whatever ``limit`` cuts from the
  questions, so a limited run searches the same index as a full one.
- Two protocols (``scope``): ``paragraph`` (SQuAD's own: each question is
  asked with an article-id filter holding its own paragraph only) and
  ``corpus`` (no filter: every question searches all the paragraphs).
- The prediction scored is the answer text with its citation marks removed,
  or the empty string when the service abstained. Official SQuAD 2.0 rules
  (``evals.metrics.squad_normalize``): the empty prediction is right exactly
  on unanswerable questions; an answerable one scores the best EM and F1 over
  its gold answers. A question that raised scores 0 whatever its gold.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from evals.gold import GoldItem, question_kind
from evals.metrics import (
    answer_recall,
    answer_words,
    exact_match,
    score_row,
    squad_normalize,
    strip_citations,
    token_f1,
)
from evals.runner import OnRow, run_gold
from index.article import Article
from qa_service.services import Services

SCOPES = ("paragraph", "corpus")
SCOPE_NOTES = {
    "paragraph": "each question is answered over its own paragraph only (SQuAD's protocol)",
    "corpus": "every question searches all the paragraphs",
}
SOURCE = "squad"


class SquadError(ValueError):
    """A SQuAD file that cannot be used; the message names the file and the bad entry."""


@dataclass(frozen=True)
class SquadSet:
    """The paragraphs of a SQuAD file as articles, its questions (perhaps cut by a limit),
    and each question's own paragraph as an article id (``paragraph_of``)."""

    articles: tuple[Article, ...]
    questions: tuple[GoldItem, ...]
    paragraph_of: dict[str, str]

    @property
    def n_answerable(self) -> int:
        return sum(q.answerable for q in self.questions)


def paragraph_url(title: str, n: int) -> str:
    """The stable url of paragraph ``n`` (from 1) of the item ``title``."""
    return f"squad://{quote(title, safe='')}/{n}"


def paragraph_article(title: str, n: int, context: str) -> Article:
    return Article.create(title=f"{title}, paragraph {n}", body=context, url=paragraph_url(title, n),
                          source=SOURCE)


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SquadError(f"{where} must be a non-empty string")
    return value


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise SquadError(f"{where} must be a list")
    return value


def _question(qa: object, where: str) -> GoldItem:
    if not isinstance(qa, dict):
        raise SquadError(f"{where} must be an object")
    qid = _string(qa.get("id"), f"{where}.id").strip()
    question = _string(qa.get("question"), f"{where}.question").strip()
    answers: tuple[str, ...] = ()
    if not qa.get("is_impossible", False):
        texts = []
        for k, answer in enumerate(_list(qa.get("answers", []), f"{where}.answers")):
            if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
                raise SquadError(f"{where}.answers[{k}] must be an object with a string 'text'")
            if answer["text"].strip():
                texts.append(answer["text"].strip())
        answers = tuple(dict.fromkeys(texts))
        if not answers:
            raise SquadError(f"{where} has no answer text and is not marked is_impossible")
    return GoldItem(id=qid, question=question, answers=answers, tags=(question_kind(question),))


def parse_squad(data: object, name: str = "squad") -> SquadSet:
    """The articles and gold items of decoded SQuAD JSON; SquadError names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SquadError(f"{name}: not SQuAD JSON (expected an object with a 'data' list)")
    articles: list[Article] = []
    questions: list[GoldItem] = []
    paragraph_of: dict[str, str] = {}
    titles: set[str] = set()
    for i, item in enumerate(data["data"]):
        where = f"{name}: data[{i}]"
        if not isinstance(item, dict):
            raise SquadError(f"{where} must be an object")
        title = _string(item.get("title"), f"{where}.title").strip()
        if title in titles:
            raise SquadError(f"{where}: title {title!r} appears twice (paragraph urls would collide)")
        titles.add(title)
        for n, paragraph in enumerate(_list(item.get("paragraphs"), f"{where}.paragraphs"), start=1):
            at = f"{where}.paragraphs[{n - 1}]"
            if not isinstance(paragraph, dict):
                raise SquadError(f"{at} must be an object")
            article = paragraph_article(title, n, _string(paragraph.get("context"), f"{at}.context"))
            articles.append(article)
            for j, qa in enumerate(_list(paragraph.get("qas", []), f"{at}.qas")):
                question = _question(qa, f"{at}.qas[{j}]")
                if question.id in paragraph_of:
                    raise SquadError(f"{at}.qas[{j}]: duplicate question id {question.id!r}")
                paragraph_of[question.id] = article.id
                questions.append(question)
    if not questions:
        raise SquadError(f"{name} holds no questions")
    return SquadSet(tuple(articles), tuple(questions), paragraph_of)


def load_squad(path: str | Path, limit: int | None = None) -> SquadSet:
    """The SQuAD set of a JSON file, its questions cut to the first ``limit`` (every paragraph kept)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise SquadError(f"SQuAD file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SquadError(f"cannot read SQuAD file {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise SquadError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
    squad = parse_squad(data, str(path))
    return replace(squad, questions=squad.questions[:limit])


def question_pools(squad: SquadSet, scope: str) -> dict[str, tuple[str, ...]] | None:
    """question id -> the article ids it is answered over (``evals.runner.run_gold``'s ``pools``):
    its own paragraph under scope "paragraph"; None (no filter) under "corpus"."""
    if scope not in SCOPES:
        raise SquadError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    if scope == "corpus":
        return None
    return {q.id: (squad.paragraph_of[q.id],) for q in squad.questions}


def check_ingested(squad: SquadSet, article_ids: Sequence[str]) -> None:
    """SquadError unless every question's paragraph is among the ids the ingest reported."""
    missing = {squad.paragraph_of[q.id] for q in squad.questions} - set(article_ids)
    if missing:
        raise SquadError(f"{len(missing)} paragraph(s) of the questions were not indexed: "
                         f"{', '.join(sorted(missing)[:5])}")


def squad_prediction(row: dict) -> str:
    """What the official script would be given: the answer without citation marks, or ""
    when the service abstained or the question failed."""
    if row.get("error") is not None or row.get("abstained"):
        return ""
    return " ".join(strip_citations(row.get("answer") or "").split())


def squad_scores(prediction: str, answers: Sequence[str]) -> tuple[float, float]:
    """Official SQuAD 2.0 (EM, F1) of one prediction; ``answers`` empty for an unanswerable question."""
    gold = [a for a in answers if squad_normalize(a)] or [""]
    return exact_match(prediction, gold, squad_normalize), token_f1(prediction, gold, squad_normalize)


def score_squad_row(row: dict) -> dict:
    """The row plus squad_prediction, squad_exact, squad_f1 and squad_gold_in_answer (None unless
    an answerable question got a non-empty prediction)."""
    prediction = squad_prediction(row)
    gold = list(row.get("gold_answers") or [])
    exact, f1 = (0.0, 0.0) if row.get("error") is not None else squad_scores(prediction, gold)
    gold_in = answer_recall(prediction, gold, squad_normalize) if gold and prediction else None
    return {**row, "squad_prediction": prediction, "squad_exact": exact, "squad_f1": f1,
            "squad_gold_in_answer": gold_in}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def squad_metrics(rows: Sequence[dict]) -> dict:
    """The official SQuAD 2.0 figures of rows scored by score_squad_row, as shares in [0, 1]
    (the official script prints them times 100); None where a figure has no questions."""
    has_ans = [r for r in rows if r.get("gold_answers")]
    no_ans = [r for r in rows if not r.get("gold_answers")]
    answered = [r for r in rows if r["squad_prediction"]]
    answered_has = [r for r in has_ans if r["squad_prediction"]]
    return {
        "n_questions": len(rows),
        "n_failed": sum(r.get("error") is not None for r in rows),
        "exact": _mean([r["squad_exact"] for r in rows]),
        "f1": _mean([r["squad_f1"] for r in rows]),
        "n_has_ans": len(has_ans),
        "has_ans_exact": _mean([r["squad_exact"] for r in has_ans]),
        "has_ans_f1": _mean([r["squad_f1"] for r in has_ans]),
        "n_no_ans": len(no_ans),
        "no_ans_accuracy": _mean([r["squad_exact"] for r in no_ans]),
        "n_answered": len(answered),
        "n_answered_has_ans": len(answered_has),
        "gold_in_answer": _mean([r["squad_gold_in_answer"] for r in answered_has]),
        "has_ans_gold_in_answer": _mean([r["squad_gold_in_answer"] or 0.0 for r in has_ans]),
        "answer_words": _mean([answer_words(r["squad_prediction"]) for r in answered]),
    }


def run_squad(services: Services, squad: SquadSet, top_k: int, scope: str,
              progress: OnRow | None = None) -> list[dict]:
    """Scored rows of every question, asked over an index that already holds ``squad.articles``:
    the project's metrics (``score_row``, with the service's checker) plus the official ones."""
    rows = run_gold(services, squad.questions, top_k, progress, question_pools(squad, scope))
    return [score_squad_row(score_row(row, services.checker)) for row in rows]
