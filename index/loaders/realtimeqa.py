"""RealTimeQA search-result files (``*_gcs.jsonl``).

Each line is ``{"question_id", "search_time", "search_result": [...]}``; every
search result ``{url, title, text, publish_date "YYYY/MM/DD", authors}`` with
text becomes an article, once per file. Results with empty text are common in
the data set and are skipped without a failure.
"""
from __future__ import annotations

from typing import Any

from index.article import Article

from .common import LoaderError, LoadFailure, LoadResult, default_source, first_sentence, parse_date
from .json_records import decode_json_line, numbered_lines

SUFFIX = "_gcs.jsonl"


def _article(result: dict[str, Any]) -> Article | None:
    text = result.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    url = result.get("url") or None
    authors = result.get("authors")
    raw_date = result.get("publish_date")
    return Article.create(
        title=result.get("title") or first_sentence(text),
        body=text.strip(),
        url=url,
        source=default_source(None, url),
        # Dates in this public data are sometimes missing; the article is still useful.
        published_at=parse_date(raw_date) if isinstance(raw_date, str) else None,
        authors=[a for a in authors if isinstance(a, str)] if isinstance(authors, list) else [],
    )


def _search_results(line: str) -> list[dict[str, Any]]:
    record = decode_json_line(line)
    results = record.get("search_result") if isinstance(record, dict) else None
    if not isinstance(results, list):
        raise LoaderError("missing field 'search_result' (a list of search results)")
    return [result for result in results if isinstance(result, dict)]


def parse_gcs(text: str, name: str) -> LoadResult:
    loaded = LoadResult()
    seen: set[str] = set()
    for where, line in numbered_lines(text, name):
        try:
            results = _search_results(line)
        except LoaderError as err:
            loaded.failures.append(LoadFailure(where, str(err)))
            continue
        for article in filter(None, map(_article, results)):
            if article.id not in seen:
                seen.add(article.id)
                loaded.articles.append(article)
    return loaded
