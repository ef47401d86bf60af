"""Convert the newsroom-dev set (articles.jsonl + questions.jsonl) into a gold JSONL file.

    python -m evals.newsroom_dev SRC_DIR OUT.jsonl

SRC_DIR holds the set's ``articles.jsonl`` (id, title, body, url, source,
published_at) and ``questions.jsonl`` (id, article, question, answers,
all_of?, answerable, open, paraphrase, evidence); see its README. The set
stays where it is; only the gold file is written. The articles file is a
corpus as it is: ``qa-service eval OUT.jsonl --corpus SRC_DIR/articles.jsonl``.

Decisions:
- ``answers`` are kept as given, and ``[]`` for an unanswerable question;
  ``all_of`` is kept on list questions (evals.gold: right only when every
  item is named).
- Evidence: each sentence of the ``evidence`` text becomes one quote, so a
  list question's two sentences are two quotes, each an exact slice of the
  body (the retrieval and cited-evidence metrics then match either sentence
  on its own). Its ``article_id`` is the id our loader gives the article
  (a hash of its url, not the set's "dev01"): the same one the index holds.
- Tags: "paraphrase" or "literal", "list" (with all_of), "open",
  "unanswerable", and the question's kind from its wh-word
  (evals.gold.question_kind: who, when, where, how-much, what, which, why,
  other).
- A record the set's README does not allow (a missing field, an evidence
  sentence not in its article, an unknown article) is an error naming the
  file and line: a silently dropped question would change what the figures mean.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evals.gold import question_kind
from index.loaders import DEFAULT_MAX_FILE_BYTES, load_upload

ARTICLES = "articles.jsonl"
QUESTIONS = "questions.jsonl"
# A sentence ends at . ! or ? (perhaps inside a closing quote) before a space and a capital or quote.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“A-Z])|(?<=[.!?][\"”])\s+(?=[\"“A-Z])")


class NewsroomError(ValueError):
    """Set files that cannot be converted; the message names the file and line."""


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NewsroomError(f"not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise NewsroomError(f"cannot read {path}: {err}") from None
    # split("\n") as the loader does: a JSON string may hold a raw U+2028.
    return [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]


def load_articles(path: Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict[str, tuple[str, str]]:
    """The set's article id -> (the id our loader gives it, its body as loaded).

    Each line goes through the project's loader on its own, so ids and bodies
    are exactly those an ingest of the file produces."""
    articles: dict[str, tuple[str, str]] = {}
    for number, line in _lines(path):
        try:
            set_id = json.loads(line).get("id")
        except (json.JSONDecodeError, AttributeError):
            raise NewsroomError(f"{path}:{number}: not a JSON object") from None
        if not isinstance(set_id, str) or not set_id.strip():
            raise NewsroomError(f"{path}:{number}: 'id' must be a non-empty string")
        loaded = load_upload(path.name, line.encode("utf-8"), max_file_bytes=max_file_bytes)
        if loaded.failures or len(loaded.articles) != 1:
            reasons = "; ".join(f.reason for f in loaded.failures) or "no article"
            raise NewsroomError(f"{path}:{number}: the loader cannot read this article: {reasons}")
        article = loaded.articles[0]
        if set_id in articles:
            raise NewsroomError(f"{path}:{number}: duplicate article id {set_id!r}")
        articles[set_id.strip()] = (article.id, article.body)
    if not articles:
        raise NewsroomError(f"{path} holds no articles")
    return articles


def evidence_quotes(evidence: str, body: str) -> list[str]:
    """The evidence text as one quote per sentence, each an exact slice of ``body`` (the
    sentences need not be adjacent there); [] when any of them is not text of the body."""
    parts = [p.strip() for p in _SENTENCE_END.split(evidence.strip()) if p.strip()]
    return parts if parts and all(p in body for p in parts) else []


def _field(record: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = record.get(key)
    if not isinstance(value, kind):
        raise ValueError(f"'{key}' is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def _strings(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"'{key}' must be a list of non-empty strings")
    return [v.strip() for v in value]


def convert_question(record: object, articles: dict[str, tuple[str, str]]) -> dict:
    """One gold record (evals.gold's format) of one question record."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    qid = _field(record, "id", str).strip()
    question = _field(record, "question", str).strip()
    set_article = _field(record, "article", str)
    if set_article not in articles:
        raise ValueError(f"unknown article {set_article!r}")
    article_id, body = articles[set_article]
    answerable = _field(record, "answerable", bool)
    answers = _strings(record, "answers") if answerable else []
    if answerable and not answers:
        raise ValueError("answerable, yet 'answers' is empty")
    all_of = _strings(record, "all_of") if answerable else []
    evidence = record.get("evidence") or ""
    if not isinstance(evidence, str):
        raise ValueError("'evidence' must be a string")
    quotes = evidence_quotes(evidence, body) if evidence.strip() else []
    if evidence.strip() and not quotes:
        raise ValueError(f"the evidence is not text of article {set_article!r}")
    tags = ["paraphrase" if record.get("paraphrase") else "literal"]
    tags += ["list"] * bool(all_of) + ["open"] * bool(record.get("open")) + ["unanswerable"] * (not answerable)
    tags.append(question_kind(question))
    gold = {"id": qid, "question": question, "answers": answers}
    if all_of:
        gold["all_of"] = all_of
    gold["evidence"] = [{"article_id": article_id, "quote": q} for q in quotes]
    gold["tags"] = tags
    return gold


def convert(src_dir: str | Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[dict]:
    """Gold records of every question of the set in ``src_dir``, in file order."""
    src = Path(src_dir)
    articles = load_articles(src / ARTICLES, max_file_bytes)
    path = src / QUESTIONS
    records = []
    for number, line in _lines(path):
        try:
            records.append(convert_question(json.loads(line), articles))
        except json.JSONDecodeError as err:
            raise NewsroomError(f"{path}:{number}: invalid JSON ({err.msg})") from None
        except ValueError as err:
            raise NewsroomError(f"{path}:{number}: {err}") from None
    if not records:
        raise NewsroomError(f"{path} holds no questions")
    return records


def write_gold(records: Sequence[dict], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m evals.newsroom_dev SRC_DIR OUT.jsonl", file=sys.stderr)
        return 2
    try:
        records = convert(args[0])
    except NewsroomError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = write_gold(records, args[1])
    lists = sum("all_of" in r for r in records)
    unanswerable = sum(not r["answers"] for r in records)
    print(f"wrote {len(records)} questions ({unanswerable} unanswerable, {lists} list) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
