"""HTML news pages (``.html`` / ``.htm``), extracted with trafilatura.

trafilatura keeps the main text (scripts, styles, navigation and comments
left out) and reads title, date, author(s) and canonical URL from the page.
"""
from __future__ import annotations

import trafilatura
from trafilatura.settings import Document

from index.article import Article

from .common import LoaderError, default_source, first_sentence, parse_date, split_names, unnamed_source


def parse_html(text: str, name: str) -> Article:
    document = trafilatura.bare_extraction(
        text, with_metadata=True, include_comments=False, include_tables=True
    )
    if not isinstance(document, Document):  # None when nothing was extracted (a dict only with as_dict=True)
        raise LoaderError("no article text found in HTML")
    lines = [line.strip() for line in (document.text or "").splitlines()]
    title = document.title
    # The page's own <h1> usually repeats the title as the first text line.
    if lines and title and lines[0] == title:
        lines.pop(0)
    # trafilatura puts one paragraph per line; blank-line separation matches the other loaders.
    body = "\n\n".join(line for line in lines if line)
    if not body:
        raise LoaderError("no article text found in HTML")
    url = document.url or None
    return Article.create(
        title=title or first_sentence(body),
        body=body,
        url=url,
        source=default_source(None, url, unnamed_source(name, bool(title))),
        published_at=parse_date(document.date) if document.date else None,
        # trafilatura joins several authors with "; ".
        authors=split_names(document.author or ""),
    )
