"""Types and small helpers shared by every format parser."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import PurePath
from urllib.parse import urlsplit

from index.article import Article

DEFAULT_SOURCE = "local"
MB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 10 * MB
_UTF8_BOM = b"\xef\xbb\xbf"


class LoaderError(ValueError):
    """A file (or record) that cannot be loaded; the message is the reason."""


@dataclass
class LoadFailure:
    path: str
    reason: str


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.articles.extend(other.articles)
        self.failures.extend(other.failures)


def format_mb(n_bytes: int) -> str:
    if n_bytes < MB // 100:  # would round to "0 MB"
        return f"{n_bytes:,} bytes"
    return f"{n_bytes / MB:.2f}".rstrip("0").rstrip(".") + " MB"


def check_size(n_bytes: int, max_file_bytes: int) -> None:
    if n_bytes > max_file_bytes:
        raise LoaderError(
            f"file too large: {format_mb(n_bytes)} (limit {format_mb(max_file_bytes)})"
        )


def decode_text(data: bytes) -> str:
    """Strict UTF-8 (an optional BOM is dropped); rejects binary and empty input."""
    if b"\x00" in data:
        raise LoaderError("binary file (contains NUL bytes)")
    skip = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.object[err.start]
        raise LoaderError(
            f"not valid UTF-8 (byte 0x{bad:02x} at offset {err.start + skip})"
        ) from None
    if not text.strip():
        raise LoaderError("empty file" if not text else "empty file (whitespace only)")
    return text


def host_of(url: str | None) -> str | None:
    """The URL's host without a leading "www.", or None (also for a URL that cannot be parsed)."""
    try:
        host = urlsplit(url).hostname if url else None
    except ValueError:
        return None
    return host.removeprefix("www.") if host else None


def default_source(source: str | None, url: str | None, fallback: str = DEFAULT_SOURCE) -> str:
    return source or host_of(url) or fallback


def unnamed_source(name: str, titled: bool) -> str:
    """The source of a file's article that names none (nor has a URL): ``"local"``, or
    for an article without a headline the file's base name ("notes/call.txt" -> "call.txt").

    Such an article is titled by its first sentence, so its file's name, the only
    thing that told these files apart before, stays visible as its source.
    """
    return DEFAULT_SOURCE if titled else PurePath(name).name


def first_sentence(text: str, limit: int = 100) -> str:
    """The body's first sentence, cut to ``limit`` characters (a stand-in title)."""
    flat = " ".join(text.split())
    # At least 20 characters, so "U.S." alone is not taken for a sentence.
    match = re.match(r".{20,}?[.!?](?=\s|$)", flat)
    sentence = match.group(0) if match else flat
    if len(sentence) <= limit:
        return sentence
    # Cut at a word boundary: a title ending in half a word reads as a typo.
    cut = sentence[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(" ,;:—-") + "…"


def split_names(names: str) -> list[str]:
    """"Ann Lee and Bo Kim, Cy Park" -> ["Ann Lee", "Bo Kim", "Cy Park"]."""
    parts = re.split(r"\s*(?:,|;|&|\band\b)\s*", names, flags=re.IGNORECASE)
    return [part.strip() for part in parts if part.strip()]


_MONTHS = {name[:3].lower(): n for n, name in enumerate(calendar.month_name) if name}
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2}) ([a-z]{3,}) (\d{4})(?: (\d{1,2}):(\d{2}))?")
_MONTH_DAY_YEAR = re.compile(r"([a-z]{3,}) (\d{1,2}) (\d{4})(?: (\d{1,2}):(\d{2}))?")


def parse_date(value: str) -> str | None:
    """An ISO date ("2025-09-23") or date-time ("2025-09-23T08:26:00"), or None.

    Accepts ISO forms, ``YYYY/MM/DD``, "23 Sep. 2025, 08:26" and
    "September 23, 2025" (with or without a time).
    """
    value = value.strip()
    iso = re.sub(r"^(\d{4})/(\d{2})/(\d{2})", r"\1-\2-\3", value)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            return date.fromisoformat(iso).isoformat()
        return datetime.fromisoformat(iso).isoformat()
    except ValueError:
        pass
    cleaned = " ".join(re.sub(r"[.,]", " ", value.lower()).split())
    for pattern, day_first in ((_DAY_MONTH_YEAR, True), (_MONTH_DAY_YEAR, False)):
        match = pattern.fullmatch(cleaned)
        if not match:
            continue
        day, word = (match[1], match[2]) if day_first else (match[2], match[1])
        month = _MONTHS.get(word[:3])
        if month is None:
            return None
        try:
            moment = datetime(int(match[3]), month, int(day), int(match[4] or 0), int(match[5] or 0))
        except ValueError:
            return None
        return moment.isoformat() if match[4] else moment.date().isoformat()
    return None
