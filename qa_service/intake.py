"""Articles checked where the CLI and the API receive them (the loaders keep what a file says).

Links: only http(s) links with a valid host and port are stored: a
``javascript:`` or ``data:`` URL would be handed to every client that shows
the article. An article from a file with another link is stored without it,
with a warning (its id is then derived from source, title and date); the
JSON API refuses it (422).

Sizes: the body and every other field have a limit (``QA_MAX_*_CHARS``),
since each is listed, searched and sent with every passage that cites the
article; an article over one is refused, naming the field. So is one whose
title, source, link, authors or captions hold a control character (an
escaped ``\\u0000`` in JSON), or whose body holds a NUL, which a file may
not either.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from index.article import Article, article_id_for

if TYPE_CHECKING:  # the loaders import trafilatura; url_problem's users (API schemas, CLI client) need none of it
    from index.loaders import LoadFailure, LoadResult
    from qa_service.settings import HttpSettings

# A host name's label: letters (any script), digits, hyphens and underscores.
_LABEL = re.compile(r"[\w-]{1,63}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Each field with its limit's setting.
_LIMITS = (("body", "max_article_chars"), ("title", "max_title_chars"), ("source", "max_source_chars"),
           ("url", "max_url_chars"), ("authors", "max_authors_chars"), ("captions", "max_captions_chars"))


def url_problem(url: str) -> str | None:
    """Why ``url`` may not be stored as an article's link, or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # a ValueError when it is out of range or no number
    except ValueError as err:
        return f"is not a valid URL ({err})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if "@" in parts.netloc:
        return "must not carry a user name or password"
    if "[" not in parts.netloc and not _valid_name(parts.hostname):  # urlsplit checks an IP literal
        return f"has an invalid host {parts.hostname!r}"
    if port == 0:
        return "has port 0, which is no port"
    return None


def _valid_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def control_character(text: str) -> str | None:
    """The first control character of ``text`` (tab and line breaks aside), as U+XXXX, or None."""
    found = _CONTROL.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


class Refusal(NamedTuple):
    """Why an article may not be stored: the field, the reason and the HTTP status to say so."""

    field: str
    reason: str
    status: int  # 413 over a size limit, else 422


def refusal(article: Article, limits: HttpSettings) -> Refusal | None:
    """Why ``article`` may not be stored as it is, or None."""
    for name, setting in _LIMITS:
        value = getattr(article, name) or ""
        several = isinstance(value, tuple)
        size = sum(map(len, value)) if several else len(value)
        limit = getattr(limits, setting)
        if size > limit:
            return Refusal(name, f"the {name} {'are' if several else 'is'} {size:,} characters"
                                 f"{' together' if several else ''}; the limit is {limit:,} "
                                 f"(QA_{setting.upper()})", 413)
    if "\x00" in article.body:
        return Refusal("body", "the body holds a NUL character", 422)
    for name in ("title", "source", "url", "authors", "captions"):
        value = getattr(article, name) or ""
        for text in value if isinstance(value, tuple) else (value,):
            if found := control_character(text):
                return Refusal(name, f"the {name} holds a control character ({found})", 422)
    return None


def admit(article: Article) -> tuple[Article, str | None]:
    """The article as it may be stored, and a warning when it had to be changed."""
    if article.url and (problem := url_problem(article.url)):
        shown = article.url if len(article.url) <= 80 else article.url[:77] + "..."
        kept = replace(article, url=None,
                       id=article_id_for(None, article.source, article.title, article.published_at))
        return kept, f"its url {shown!r} {problem}; stored without it"
    return article, None


def screen(loaded: LoadResult, limits: HttpSettings) -> tuple[LoadResult, list[LoadFailure]]:
    """``loaded`` with every article admitted and those refused moved to its failures, and the
    warnings (an article named by its title: a loaded article does not know its file)."""
    from index.loaders import LoadFailure, LoadResult

    kept, warnings = LoadResult(failures=list(loaded.failures)), []
    for article in loaded.articles:
        admitted, note = admit(article)
        name = f"article {article.title[:60]!r}"
        if refused := refusal(admitted, limits):
            kept.failures.append(LoadFailure(name, refused.reason))
            continue
        kept.articles.append(admitted)
        if note:
            warnings.append(LoadFailure(name, note))
    return kept, warnings
