"""The domain objects of ingestion: Article and Chunk."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from urllib.parse import urlsplit, urlunsplit


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_body(body: str) -> str:
    """Canonical form of a body for hashing: NFC, collapsed whitespace."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", body)).strip()


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop query, fragment and trailing slash.

    Query strings on news sites are nearly always tracking parameters, so two
    links to the same story should give the same article id.
    """
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "", ""))


def article_id_for(url: str | None, source: str, title: str, published_at: str | None) -> str:
    """Stable id: hash of the canonical URL, else of source + title + date."""
    key = canonical_url(url) if url else f"{source}\n{title}\n{published_at or ''}"
    return _sha(key)[:16]


def parse_timestamp(published_at: str | None) -> int | None:
    """Seconds since the epoch (UTC) of an ISO date or date-time, or None."""
    if not published_at:
        return None
    try:
        moment = datetime.fromisoformat(published_at)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(published_at[:10]), datetime.min.time())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass(frozen=True, kw_only=True)
class ArticleFields:
    """What is known of an article besides its text; the catalog's record keeps these."""

    id: str
    title: str
    url: str | None = None
    source: str = ""
    published_at: str | None = None
    authors: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    content_hash: str = ""


@dataclass(frozen=True, kw_only=True)
class Article(ArticleFields):
    """One news article. ``body`` is the text that chunks and quotes index into."""

    body: str

    @classmethod
    def create(
        cls,
        *,
        title: str,
        body: str,
        url: str | None = None,
        source: str = "",
        published_at: str | None = None,
        authors: tuple[str, ...] | list[str] = (),
        captions: tuple[str, ...] | list[str] = (),
    ) -> Article:
        """Build an article, deriving its id and content hash."""
        title = title.strip()
        return cls(
            id=article_id_for(url, source, title, published_at),
            title=title,
            body=body,
            url=url or None,
            source=source,
            published_at=published_at,
            authors=tuple(authors),
            captions=tuple(captions),
            content_hash=_sha(normalise_body(body)),
        )

    def with_source(self, source: str) -> Article:
        """The same article under another source name (id recomputed if it has no URL)."""
        return replace(
            self,
            source=source,
            id=article_id_for(self.url, source, self.title, self.published_at),
        )

    @property
    def timestamp(self) -> int | None:
        return parse_timestamp(self.published_at)


@dataclass(frozen=True)
class Chunk:
    """A slice of an article body: ``article.body[start:end] == text``."""

    article_id: str
    n: int
    text: str
    start: int
    end: int
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", chunk_id(self.article_id, self.n))


def chunk_id(article_id: str, n: int) -> str:
    return f"{article_id}:{n}"
