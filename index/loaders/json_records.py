"""JSON (``.json``: one object or a list) and JSON Lines (``.jsonl``) article records.

Record fields: ``body`` (alias ``text``, required), ``title`` (required unless
``url`` is given; then the body's first sentence stands in), ``url``,
``source``, ``published_at`` (aliases ``publish_date``, ``date``),
``authors`` (alias ``author``; list or comma-separated string), ``captions``.
A bad record is reported on its own; the file's other records still load.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from index.article import Article

from .common import (
    LoaderError,
    LoadFailure,
    LoadResult,
    default_source,
    first_sentence,
    parse_date,
    split_names,
)

_BODY_KEYS = ("body", "text")
_DATE_KEYS = ("published_at", "publish_date", "date")
_AUTHOR_KEYS = ("authors", "author")


def _pick(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """The first of ``keys`` present with a non-null value (and its name)."""
    for key in keys:
        if record.get(key) is not None:
            return key, record[key]
    return keys[0], None


def _optional_string(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise LoaderError(f"field {key!r} must be a string")
    return value.strip() or None


def _string_list(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise LoaderError(f"field {key!r} must be a list of strings")


def article_from_record(record: Any) -> Article:
    """One article from a decoded JSON record; raises LoaderError naming the bad field."""
    if not isinstance(record, dict):
        raise LoaderError(f"record is a JSON {type(record).__name__}, not an object")
    body_key, body = _pick(record, _BODY_KEYS)
    if body is None:
        raise LoaderError("missing required field 'body' (or 'text')")
    if not isinstance(body, str) or not body.strip():
        raise LoaderError(f"field {body_key!r} must be a non-empty string")
    url = _optional_string(record, "url")
    title = _optional_string(record, "title")
    if title is None and url is None:
        raise LoaderError("missing required field 'title' (needed when there is no 'url')")

    date_key, raw_date = _pick(record, _DATE_KEYS)
    if raw_date is not None and not isinstance(raw_date, str):
        raise LoaderError(f"field {date_key!r} must be a string")
    published_at = parse_date(raw_date) if raw_date else None
    if raw_date and published_at is None:
        raise LoaderError(f"unrecognised date in field {date_key!r}: {raw_date!r}")

    author_key, authors = _pick(record, _AUTHOR_KEYS)
    return Article.create(
        title=title or first_sentence(body),
        body=body.strip(),
        url=url,
        source=default_source(_optional_string(record, "source"), url),
        published_at=published_at,
        authors=split_names(authors) if isinstance(authors, str) else _string_list(author_key, authors),
        captions=_string_list("captions", record.get("captions")),
    )


def _text_only(value: Any) -> Any:
    """``value``, unless one of its strings holds a lone surrogate escape ("\\ud800"):
    that decodes to no character, and hashing or embedding it raises."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise LoaderError("a string holds a lone surrogate escape (\\ud800-\\udfff), which is not text") from None
    return value


def _json_error(err: json.JSONDecodeError) -> str:
    return f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"


def parse_json(text: str, name: str) -> LoadResult:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise LoaderError(_json_error(err)) from None
    except (ValueError, RecursionError) as err:  # an integer of 5,000 digits; nesting 10,000 deep
        raise LoaderError(f"invalid JSON: {err}") from None
    if isinstance(data, dict):
        return LoadResult([article_from_record(_text_only(data))])
    if not isinstance(data, list):
        raise LoaderError(f"expected a JSON object or a list of objects, got a {type(data).__name__}")
    if not data:
        raise LoaderError("empty JSON list: no records")
    result = LoadResult()
    for index, record in enumerate(data):
        try:
            result.articles.append(article_from_record(_text_only(record)))
        except LoaderError as err:
            result.failures.append(LoadFailure(f"{name}[{index}]", str(err)))
    return result


def numbered_lines(text: str, name: str) -> Iterator[tuple[str, str]]:
    """("name:LINE", line) for every non-blank line."""
    # Not str.splitlines: JSON strings may hold a raw U+2028, which it would split on.
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield f"{name}:{number}", line


def decode_json_line(line: str) -> Any:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        raise LoaderError(f"invalid JSON at column {err.colno}: {err.msg}") from None
    except (ValueError, RecursionError) as err:  # an integer of 5,000 digits; nesting 10,000 deep
        raise LoaderError(f"invalid JSON: {err}") from None
    return _text_only(value)


def parse_jsonl(text: str, name: str) -> LoadResult:
    result = LoadResult()
    for where, line in numbered_lines(text, name):
        try:
            result.articles.append(article_from_record(decode_json_line(line)))
        except LoaderError as err:
            result.failures.append(LoadFailure(where, str(err)))
    return result
