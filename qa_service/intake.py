"""Links of articles loaded from files, checked where the CLI and the API receive them
(the loaders keep a file's URL as it is written).

Only http(s) links are stored: a ``javascript:`` or ``data:`` URL would be handed
to every client that shows the article. Such an article is stored without its
link, with a warning (its id is then derived from source, title and date).
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from index.article import Article, article_id_for

if TYPE_CHECKING:  # the loaders import trafilatura; url_problem's users (API schemas, CLI client) need none of it
    from index.loaders import LoadFailure, LoadResult


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be stored as an article's link, or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as err:
        return f"is not a valid URL ({err})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


def admit(article: Article) -> tuple[Article, str | None]:
    """The article as it may be stored, and a warning when it had to be changed."""
    if article.url and (problem := url_problem(article.url)):
        shown = article.url if len(article.url) <= 80 else article.url[:77] + "..."
        kept = replace(article, url=None,
                       id=article_id_for(None, article.source, article.title, article.published_at))
        return kept, f"its url {shown!r} {problem}; stored without it"
    return article, None


def screen(loaded: LoadResult) -> tuple[LoadResult, list[LoadFailure]]:
    """``loaded`` with every article admitted, and the warnings (an article named by its
    title: a loaded article does not know its file)."""
    from index.loaders import LoadFailure, LoadResult

    admitted = [admit(article) for article in loaded.articles]
    warnings = [LoadFailure(f"article {article.title[:60]!r}", note) for article, note in admitted if note]
    return LoadResult([article for article, _ in admitted], list(loaded.failures)), warnings
