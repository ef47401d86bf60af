"""RealTimeQA adapter: weekly news quizzes as gold items, answered over the week's search results.

A week is a pair of files in ``past/YYYY/``: ``YYYYMMDD_qa.jsonl`` (questions:
question_id, question_date "YYYY/MM/DD", question_sentence, choices, answer)
and ``YYYYMMDD_gcs.jsonl`` (per question: search_time "YYYY/MM/DD/HH:MM" and
the search results, loaded as articles by ``index.loaders``).

Decisions:
- ``choices`` and ``answer`` come as JSON lists or, in some years, as Python
  repr strings (``"['A', 'B']"``); both are read (``ast.literal_eval``, which
  evaluates literals only).
- The gold answer is ``choices[answer[0]]``; the question is asked in open form
  (the sentence alone, no choices), so a multiple-choice guess earns nothing.
- ``as_of`` is the day of the search (else the question date): the articles
  are what the web held then.
- Two protocols (``scope``), both over one index per week:
  ``week``: every question searches the pool of all the week's articles;
  ``question``: each question is answered only over its own search results
  (an article-id filter through the same answering path), the protocol of the
  benchmark's published "with search" baselines. A question whose search
  returned no article with text is not asked there (see evals.runner).
- A question is tagged ``answerable`` when its gold text occurs, ignoring
  case and whitespace runs, in the body of one of the articles it is answered
  over (the week's, or its own search results'), else ``not-in-articles``;
  each question is also tagged with its week.
- A question's own articles are its gcs line's search results, mapped to
  article ids by the same loader that builds the week's corpus.
- A malformed question line is an error naming the file and line: silently
  dropping questions would change what the figures mean.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from evals.audit import audit_tag, load_audit
from evals.gold import GoldItem
from evals.runner import OnRow, evaluate, model_ids, temporary_services
from index.article import Article
from index.loaders import DEFAULT_MAX_FILE_BYTES, LoadFailure, load_paths, load_upload
from qa_service.services import Services
from qa_service.settings import Settings

QA_SUFFIX = "_qa.jsonl"
GCS_SUFFIX = "_gcs.jsonl"
ANSWERABLE = "answerable"
NOT_IN_ARTICLES = "not-in-articles"
SCOPES = ("week", "question")
_DAY = re.compile(r"(\d{4})/(\d{2})/(\d{2})")


class RealTimeQAError(ValueError):
    """Week files that cannot be used; the message names the file (and line)."""


@dataclass(frozen=True)
class Week:
    """One quiz week: its questions (tagged), the distinct articles its searches returned,
    and each question's own search results as article ids (``pools``)."""

    name: str
    questions: tuple[GoldItem, ...]
    articles: tuple[Article, ...]
    failures: tuple[LoadFailure, ...] = ()
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_answerable(self) -> int:
        return sum(ANSWERABLE in q.tags for q in self.questions)


def decode_list(value: object, field: str) -> list[str]:
    """A JSON list, or a Python-repr string of one, as a list of strings."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"'{field}' is a string but not a Python list literal") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
        raise ValueError(f"'{field}' must be a list of strings")
    return [str(v) for v in value]


def parse_day(value: object) -> date | None:
    """The date of "YYYY/MM/DD" or "YYYY/MM/DD/HH:MM"; None when absent or malformed."""
    match = _DAY.match(value) if isinstance(value, str) else None
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def gold_answer(record: dict[str, Any]) -> str:
    """The text of the first correct choice."""
    choices = decode_list(record.get("choices"), "choices")
    answer = decode_list(record.get("answer"), "answer")
    if not answer:
        raise ValueError("'answer' is empty")
    try:
        index = int(answer[0])
    except ValueError:
        raise ValueError(f"'answer' must hold choice indexes, got {answer[0]!r}") from None
    if not 0 <= index < len(choices):
        raise ValueError(f"answer index {index} is outside the {len(choices)} choices")
    if not choices[index].strip():
        raise ValueError(f"choice {index} is empty")
    return choices[index].strip()


def question_item(record: object, search_days: dict[str, date], week_tag: str) -> GoldItem:
    """A gold item of one qa record (without its answerability tag)."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    qid, sentence = record.get("question_id"), record.get("question_sentence")
    if not isinstance(qid, str) or not qid.strip():
        raise ValueError("'question_id' must be a non-empty string")
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError("'question_sentence' must be a non-empty string")
    return GoldItem(
        id=qid.strip(), question=sentence.strip(), answers=(gold_answer(record),), tags=(week_tag,),
        as_of=search_days.get(qid.strip()) or parse_day(record.get("question_date")),
    )


def _json_lines(path: Path) -> list[tuple[int, object]]:
    """(line number, decoded value) of every non-blank line; RealTimeQAError on bad JSON."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RealTimeQAError(f"cannot read {path}: {err}") from None
    decoded = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                decoded.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise RealTimeQAError(f"{path}:{number}: invalid JSON ({err.msg})") from None
    return decoded


def search_days(gcs_path: Path) -> dict[str, date]:
    """question_id -> day of its search, for the records that carry both."""
    days = {}
    for _, record in _json_lines(gcs_path):
        if isinstance(record, dict):
            day = parse_day(record.get("search_time"))
            if isinstance(record.get("question_id"), str) and day:
                days[record["question_id"].strip()] = day
    return days


def question_pools(gcs_path: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict[str, tuple[str, ...]]:
    """question_id -> ids of the articles its search returned, in result order.

    Each line goes through the loader on its own, so the ids are exactly those
    of the week's corpus (results without text are no article there either).
    """
    try:
        text = gcs_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise RealTimeQAError(f"cannot read {gcs_path}: {err}") from None
    pools: dict[str, tuple[str, ...]] = {}
    # split("\n") as the loader does: JSON strings may hold a raw U+2028.
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            qid = json.loads(line).get("question_id")
        except (json.JSONDecodeError, AttributeError):
            continue  # the week's load already reports this line as a failure
        if isinstance(qid, str):
            loaded = load_upload(gcs_path.name, line.encode("utf-8"), max_file_bytes=max_file_bytes)
            pools[qid.strip()] = tuple(dict.fromkeys(a.id for a in loaded.articles))
    return pools


def _squashed(text: str) -> str:
    return " ".join(text.casefold().split())


def tag_answerability(item: GoldItem, bodies: list[str], audit: dict[str, str]) -> GoldItem:
    """The item with ANSWERABLE or NOT_IN_ARTICLES added (``bodies`` already squashed), and
    its hand-audit verdict when the audit judged it, so reports break recall down by both."""
    gold = _squashed(item.answers[0])
    found = any(gold in body for body in bodies)
    judged = (audit_tag(audit[item.id]),) if item.id in audit else ()
    return replace(item, tags=(*item.tags, ANSWERABLE if found else NOT_IN_ARTICLES, *judged))


def load_week(qa_path: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, scope: str = "week") -> Week:
    """The questions and articles of one week, from its qa file and the gcs file beside it;
    answerability is judged over the pool each question is answered over under ``scope``."""
    name = qa_path.name.removesuffix(QA_SUFFIX)
    gcs_path = qa_path.with_name(name + GCS_SUFFIX)
    if not gcs_path.is_file():
        raise RealTimeQAError(f"{qa_path}: no search results file {gcs_path.name} beside it")
    loaded = load_paths([gcs_path], max_file_bytes=max_file_bytes)
    day = parse_day(f"{name[:4]}/{name[4:6]}/{name[6:8]}")
    week_tag = f"week-{day.isoformat() if day else name}"
    days = search_days(gcs_path)
    pools = question_pools(gcs_path, max_file_bytes)
    bodies = {article.id: _squashed(article.body) for article in loaded.articles}
    audit = load_audit()
    questions = []
    for number, record in _json_lines(qa_path):
        try:
            item = question_item(record, days, week_tag)
        except ValueError as err:
            raise RealTimeQAError(f"{qa_path}:{number}: {err}") from None
        pool = bodies.values() if scope == "week" else [bodies[i] for i in pools.get(item.id, ()) if i in bodies]
        questions.append(tag_answerability(item, list(pool), audit))
    return Week(name, tuple(questions), tuple(loaded.articles), tuple(loaded.failures), pools)


def find_weeks(directory: Path) -> list[Path]:
    """The qa files under ``directory`` (a past/YYYY folder, or any folder above), by date."""
    if not directory.is_dir():
        raise RealTimeQAError(f"not a directory: {directory}")
    found = sorted(directory.rglob(f"*{QA_SUFFIX}"), key=lambda p: p.name)
    if not found:
        raise RealTimeQAError(f"no *{QA_SUFFIX} week files under {directory}")
    return found


def load_weeks(directory: Path, weeks: int | None = None, limit: int | None = None,
               max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, scope: str = "week") -> list[Week]:
    """The first ``weeks`` weeks under ``directory``, cut to the first ``limit`` questions overall."""
    if scope not in SCOPES:
        raise RealTimeQAError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    loaded: list[Week] = []
    left = limit
    for path in find_weeks(directory)[:weeks]:
        if left is not None and left <= 0:
            break
        week = load_week(path, max_file_bytes, scope)
        if left is not None:
            week = replace(week, questions=week.questions[:left])
            left -= len(week.questions)
        if week.questions:
            loaded.append(week)
    return loaded


def run_weeks(settings: Settings, weeks: list[Week], top_k: int, progress: OnRow | None = None,
              scope: str = "week") -> tuple[list[dict], dict]:
    """Scored rows of every week's questions and the models used.

    Each week gets a fresh index of its own articles; with scope "question"
    each question searches only its own search results there. The models load
    once, in a container that never opens an index: each week's is a variant of it.
    """
    rows: list[dict] = []
    with Services(settings) as models:
        for week in weeks:
            with temporary_services(models) as services:
                services.ingestor.ingest(week.articles)
                rows += evaluate(services, week.questions, top_k, progress,
                                 week.pools if scope == "question" else None)
        return rows, model_ids(models) if weeks else {}
