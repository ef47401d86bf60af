"""Gold sets: JSON Lines of questions with gold answers, read and validated.

One object per line (blank lines are skipped)::

    {"id": "demo-001", "question": "Who ...?", "answers": ["Larry Fink", "Fink"],
     "evidence": [{"article_id": null, "quote": "exact source text"}],
     "tags": ["who"], "as_of": "2025-09-24"}

``answers: []`` marks a question the corpus does not answer (the right
behaviour is to abstain). ``evidence``, ``tags``, ``as_of`` and ``all_of`` are
optional. ``all_of`` (list questions only, so ``answers`` must not be empty)
holds every item a complete answer names: such a question is right only when
the answer names each item (evals.metrics.names_all), whatever ``answers`` say.
Unknown fields are rejected so a misspelt field name is not silently ignored.

``question_kind`` gives the kind tag of a question from its wh-word, for
converters that tag questions (evals.newsroom_dev, evals.squad).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

_REQUIRED = ("id", "question", "answers")
_FIELDS = frozenset({*_REQUIRED, "evidence", "tags", "as_of", "all_of"})
_SHOWN_ERRORS = 20


class GoldError(ValueError):
    """A gold file that cannot be used; the message names every bad line."""


@dataclass(frozen=True)
class Evidence:
    quote: str
    article_id: str | None = None


@dataclass(frozen=True)
class GoldItem:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[Evidence, ...] = ()
    tags: tuple[str, ...] = ()
    as_of: date | None = None
    all_of: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def _strings(record: dict[str, Any], key: str, *, non_empty: bool = False) -> tuple[str, ...]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"'{key}' must be a list of non-empty strings")
    if non_empty and not value:
        raise ValueError(f"'{key}' must not be empty")
    return tuple(v.strip() for v in value)


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"'{key}' must be a non-empty string")
    return value.strip()


def _evidence(record: dict[str, Any]) -> tuple[Evidence, ...]:
    value = record.get("evidence", [])
    if not isinstance(value, list):
        raise ValueError("'evidence' must be a list of {\"quote\", \"article_id\"?} objects")
    found = []
    for n, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("quote"), str) or not item["quote"].strip():
            raise ValueError(f"evidence[{n}] must be an object with a non-empty string 'quote'")
        article_id = item.get("article_id")
        if article_id is not None and not isinstance(article_id, str):
            raise ValueError(f"evidence[{n}].article_id must be a string or null")
        found.append(Evidence(item["quote"].strip(), article_id))
    return tuple(found)


def _as_of(record: dict[str, Any]) -> date | None:
    value = record.get("as_of")
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"'as_of' must be a YYYY-MM-DD date or null, got {value!r}")


def _all_of(record: dict[str, Any], answers: tuple[str, ...]) -> tuple[str, ...]:
    items = _strings(record, "all_of")
    if items and not answers:
        raise ValueError("'all_of' is for list questions with gold answers; 'answers' is empty")
    return items


def parse_item(record: object) -> GoldItem:
    """One gold item from a decoded JSON value; ValueError says what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    missing = [key for key in _REQUIRED if key not in record]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(record) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_FIELDS))})")
    answers = _strings(record, "answers")
    return GoldItem(
        id=_text(record, "id"),
        question=_text(record, "question"),
        answers=answers,
        evidence=_evidence(record),
        tags=_strings(record, "tags"),
        as_of=_as_of(record),
        all_of=_all_of(record, answers),
    )


def parse_gold(text: str, name: str = "gold") -> list[GoldItem]:
    """Every item of a gold JSONL text; GoldError lists each bad line as NAME:LINE."""
    items: list[GoldItem] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = parse_item(json.loads(line))
        except json.JSONDecodeError as err:
            errors.append(f"{name}:{number}: invalid JSON ({err.msg} at column {err.colno})")
            continue
        except ValueError as err:
            errors.append(f"{name}:{number}: {err}")
            continue
        if item.id in first_line:
            errors.append(f"{name}:{number}: duplicate id {item.id!r} (first on line {first_line[item.id]})")
            continue
        first_line[item.id] = number
        items.append(item)
    if errors:
        more = len(errors) - _SHOWN_ERRORS
        shown = errors[:_SHOWN_ERRORS] + ([f"... and {more} more"] if more > 0 else [])
        raise GoldError(f"{len(errors)} bad line(s) in {name}:\n" + "\n".join(shown))
    if not items:
        raise GoldError(f"{name} holds no questions")
    return items


def load_gold(path: str | Path) -> list[GoldItem]:
    """The gold items of a JSONL file; GoldError when it is missing, unreadable or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GoldError(f"gold file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GoldError(f"cannot read gold file {path}: {err}") from None
    return parse_gold(text, str(path))


# The first wh-word of a question decides its kind; "how much" and "how many" ask for an amount.
_WH_WORD = re.compile(r"\b(how much|how many|who|whom|whose|when|where|what|which|why)\b")
_KINDS = {"how much": "how-much", "how many": "how-much", "whom": "who", "whose": "who"}
QUESTION_KINDS = ("who", "when", "where", "how-much", "what", "which", "why", "other")


def question_kind(question: str) -> str:
    """One of QUESTION_KINDS: the question's first wh-word ("In what year" is "what"),
    "other" when it has none ("How long ...?", "Did ...?")."""
    match = _WH_WORD.search(" ".join(question.lower().split()))
    if match is None:
        return "other"
    return _KINDS.get(match.group(1), match.group(1))
