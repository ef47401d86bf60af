"""Plain-text news articles (``.txt``).

Shape: an optional ``Published: <date>`` first line, an optional short
headline paragraph, body paragraphs separated by blank lines, photo captions
ending with an all-caps bracketed credit (``... [YONHAP]``) anywhere, and a
``BY NAME [email]`` byline near the end.
"""
from __future__ import annotations

import re

from index.article import Article

from .common import LoaderError, first_sentence, parse_date, split_names, unnamed_source

_PUBLISHED = re.compile(r"published:\s*(?P<date>.+)", re.IGNORECASE)
_CAPTION_CREDIT = re.compile(r"\[[A-Z0-9][A-Z0-9 .,&/'-]*\]$")
_BYLINE = re.compile(r"by\s+(?P<names>[^\[\]]+?)\s*(?P<contact>\[.*\])?", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
_HEADLINE_MAX_WORDS = 16
_BYLINE_SEARCH_DEPTH = 2  # the byline is the last paragraph, or just before a footer line
_NAME_MAX_WORDS = 4


def paragraphs(lines: list[str]) -> list[str]:
    """Blank-line separated paragraphs, trailing whitespace stripped from each line.

    ``str.strip`` treats no-break spaces as whitespace, so lines holding only
    U+00A0 (common in pasted news text) count as blank.
    """
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    return ["\n".join(block) for block in blocks if block]


def _is_caption(paragraph: str) -> bool:
    return bool(_CAPTION_CREDIT.search(paragraph))


def _is_headline(paragraph: str) -> bool:
    return (
        "\n" not in paragraph
        and len(paragraph.split()) < _HEADLINE_MAX_WORDS
        and not _SENTENCE_END.search(paragraph)
        and not _is_caption(paragraph)
    )


def _byline_authors(paragraph: str) -> list[str] | None:
    """Authors named by a byline paragraph, or None when it is not a byline."""
    match = _BYLINE.fullmatch(paragraph)
    if not match or "\n" in paragraph or _is_caption(paragraph):
        return None
    # Without a contact, only an all-caps "BY NAME" line is a byline, not a sentence.
    if not match["contact"] and not match["names"].isupper():
        return None
    names = split_names(match["names"])
    if not names or any(len(name.split()) > _NAME_MAX_WORDS for name in names):
        return None
    return [_display_name(name) for name in names]


def _display_name(name: str) -> str:
    return " ".join(word.capitalize() for word in name.split()) if name.isupper() else name


def _take_published(lines: list[str]) -> tuple[str | None, list[str]]:
    """The date of a leading ``Published:`` line and the lines after it."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None, lines
    match = _PUBLISHED.fullmatch(lines[first].strip())
    if not match:
        return None, lines
    published_at = parse_date(match["date"])
    if published_at is None:
        raise LoaderError(f"unrecognised date in Published line: {match['date'].strip()!r}")
    return published_at, lines[first + 1 :]


def parse_plain_text(text: str, name: str) -> Article:
    published_at, lines = _take_published(text.splitlines())
    blocks = paragraphs(lines)
    headline = blocks.pop(0) if len(blocks) > 1 and _is_headline(blocks[0]) else None

    authors: list[str] = []
    for index in reversed(range(max(0, len(blocks) - _BYLINE_SEARCH_DEPTH), len(blocks))):
        found = _byline_authors(blocks[index])
        if found:
            authors = found
            del blocks[index]
            break

    captions = [" ".join(block.split("\n")) for block in blocks if _is_caption(block)]
    body = "\n\n".join(block for block in blocks if not _is_caption(block))
    if not body:
        raise LoaderError("no article text found (only headline, captions or byline)")
    return Article.create(
        title=headline or first_sentence(body),
        body=body,
        source=unnamed_source(name, bool(headline)),
        published_at=published_at,
        authors=authors,
        captions=captions,
    )
