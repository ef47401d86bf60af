"""Markdown articles (``.md`` / ``.markdown``) turned into plain text.

Optional front matter between ``---`` lines holds ``key: value`` pairs
(title, published / published_at / date, author / authors, url, source);
otherwise the first ``# Heading`` is the title.
"""
from __future__ import annotations

import re

from index.article import Article

from .common import LoaderError, default_source, first_sentence, parse_date, split_names, unnamed_source

_DATE_KEYS = ("published_at", "published", "date")
_HEADING = re.compile(r"(?P<marks>#{1,6})\s+(?P<text>.*?)(?:\s+#+)?\s*")
_RULE = re.compile(r"(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,}")
_FENCE = re.compile(r"(?:```|~~~).*")
_LINK_DEFINITION = re.compile(r"\s{0,3}\[[^\]]+\]:\s+\S+.*")
_LIST_ITEM = re.compile(r"(?P<marker>\s*(?:[-*+]|\d+[.)])\s+)(?P<text>.*)")
_INLINE = (
    (re.compile(r"\s*!\[[^\]]*\]\([^)]*\)"), ""),  # images are dropped
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # [text](url)
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"<(https?://[^>]+)>"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?!\w)"), r"\1"),
    (re.compile(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
)


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """``key: value`` pairs of a leading ``---`` block (lower-cased keys) and the rest."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
    if end is None:
        raise LoaderError("front matter opened with '---' is never closed")
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, "\n".join(lines[end + 1 :])


def inline_to_text(line: str) -> str:
    for pattern, replacement in _INLINE:
        line = pattern.sub(replacement, line)
    return line.strip()


def markdown_to_text(markdown: str) -> str:
    """Plain text of a markdown body: paragraphs joined by blank lines.

    Soft-wrapped lines of a paragraph are joined with spaces; headings, list
    items (marker kept) and code lines stay on lines of their own.
    """
    blocks: list[list[str]] = [[]]
    joinable = False  # whether the next plain line continues the last one
    in_code = False
    for raw in markdown.splitlines():
        line = raw.strip()
        if _FENCE.fullmatch(line):
            in_code, joinable = not in_code, False
            blocks.append([])
        elif in_code:
            blocks[-1].append(raw.rstrip())
        elif not line or _RULE.fullmatch(line) or _LINK_DEFINITION.fullmatch(raw):
            blocks.append([])
            joinable = False
        elif heading := _HEADING.fullmatch(line):
            blocks.extend([[inline_to_text(heading["text"])], []])
            joinable = False
        else:
            line = line.lstrip(">").strip()
            item = _LIST_ITEM.fullmatch(line)
            text = inline_to_text(item["text"] if item else line)
            if item:
                text = f"{item['marker'].strip()} {text}"
            if not text:
                continue
            if joinable and not item:
                blocks[-1][-1] += " " + text
            else:
                blocks[-1].append(text)
            joinable = not item
    return "\n\n".join("\n".join(block) for block in blocks if any(block))


def _first_h1(body: str) -> tuple[str | None, str]:
    """The text of the first ``# Heading`` and the body without that line."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        heading = _HEADING.fullmatch(line.strip())
        if heading and len(heading["marks"]) == 1:
            return inline_to_text(heading["text"]), "\n".join(lines[:index] + lines[index + 1 :])
    return None, body


def parse_markdown(text: str, name: str) -> Article:
    meta, rest = split_front_matter(text)
    heading, without_heading = _first_h1(rest)
    title = meta.get("title") or heading
    if heading is not None and heading == title:
        rest = without_heading
    body = markdown_to_text(rest)
    if not body:
        raise LoaderError("no article text found in Markdown")

    raw_date = next((meta[key] for key in _DATE_KEYS if meta.get(key)), None)
    published_at = parse_date(raw_date) if raw_date else None
    if raw_date and published_at is None:
        raise LoaderError(f"unrecognised date in front matter: {raw_date!r}")
    url = meta.get("url") or None
    return Article.create(
        title=title or first_sentence(body),
        body=body,
        url=url,
        source=default_source(meta.get("source"), url, unnamed_source(name, bool(title))),
        published_at=published_at,
        authors=split_names((meta.get("authors") or meta.get("author") or "").strip("[]")),
        captions=(),
    )
