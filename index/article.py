"""The domain objects of ingestion: Article, Chunk, and Duplicate (an article left out)."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from importlib import resources
from urllib.parse import unquote_plus, urlsplit, urlunsplit


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalise_body(body: str) -> str:
    """Canonical form of a body for hashing: NFC, collapsed whitespace."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", body)).strip()


def canonical_url(url: str) -> str:
    """Lower-case scheme and host; drop the fragment, a trailing slash and tracking parameters.

    The query stays: many news sites tell stories apart by it (``story?id=1``,
    ``story?id=2``). Only the parameters listed in ``tracking_params.txt`` are
    dropped, and the rest are sorted, so links that differ only in how the
    reader got there, or in the order of their parameters, name one story.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "http://[::1": such a link is not stored (qa_service.intake); keep it as written
        return url.strip()
    path = parts.path.rstrip("/") or "/"
    kept = sorted(pair for pair in parts.query.split("&") if pair and not _is_tracking(pair.split("=", 1)[0]))
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, "&".join(kept), ""))


@lru_cache(maxsize=1)
def _tracking_names() -> tuple[frozenset[str], tuple[str, ...]]:
    """Exact names and prefixes (``utm_*``) of the tracking parameters, lower-case."""
    lines = resources.files("index").joinpath("tracking_params.txt").read_text(encoding="utf-8").splitlines()
    names = [line.strip().lower() for line in lines if line.strip() and not line.startswith("#")]
    return frozenset(n for n in names if not n.endswith("*")), tuple(n[:-1] for n in names if n.endswith("*"))


def _is_tracking(name: str) -> bool:
    exact, prefixes = _tracking_names()
    name = unquote_plus(name).lower()
    return name in exact or name.startswith(prefixes)


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
class Duplicate:
    """An article not indexed because the article ``duplicate_of`` holds the same text (``content_hash``)."""

    article_id: str
    title: str
    duplicate_of: str


@dataclass(frozen=True)
class Chunk:
    """A slice of an article body: ``article.body[start:end] == text``.

    ``sentence_spans``: its sentences as the ingest cut them (``index.sentences.encode_spans``,
    offsets within ``text``), kept so that question time need not cut them again; None for a
    chunk written before they were kept, whose sentences are cut when it is read.
    """

    article_id: str
    n: int
    text: str
    start: int
    end: int
    id: str = field(default="")
    sentence_spans: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", chunk_id(self.article_id, self.n))


def chunk_id(article_id: str, n: int) -> str:
    return f"{article_id}:{n}"
