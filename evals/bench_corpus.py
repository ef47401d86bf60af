"""A deterministic, news-like synthetic corpus for the benchmark.

Texts are made from a small bank of names, places and topic words with a
seeded ``random.Random``, so every run indexes exactly the same articles and
chunks. A topic (a subject plus a place) keeps an article's or a chunk's
words together, so keyword and vector search see realistic clusters rather
than uniform noise.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

_FIRST = ("Min-jun", "Ji-woo", "Sarah", "David", "Amara", "Kenji", "Lucia", "Omar", "Priya", "Tomas",
          "Hana", "Victor", "Elena", "Samuel", "Yuna", "Rafael", "Ingrid", "Kwame")
_LAST = ("Kim", "Park", "Okafor", "Tanaka", "Moreau", "Silva", "Haddad", "Novak", "Reyes", "Lindqvist",
         "Mensah", "Choi", "Fischer", "Kowalski", "Yoon", "Barros")
_PLACES = ("Seoul", "Busan", "Incheon", "Daegu", "Osaka", "Singapore", "Jakarta", "Hanoi", "Frankfurt",
           "Toronto", "Nairobi", "Lisbon", "Melbourne", "Chicago", "Gwangju", "Manila")
_BODIES = ("the finance ministry", "the central bank", "the port authority", "the city council",
           "the national assembly", "the energy regulator", "the health ministry", "the transport ministry",
           "the football federation", "the stock exchange", "the weather agency", "the education office")
_COMPANIES = ("Hanbit Motors", "Solace Energy", "Norvale Logistics", "Kestrel Semiconductors", "Bluefin Foods",
              "Arclight Media", "Tidewater Shipping", "Greystone Bank", "Pinecrest Pharma", "Lumen Telecom")
# Each subject: four words that recur in its stories.
_SUBJECTS = (
    ("budget", "spending", "deficit", "tax"), ("semiconductor", "chip", "factory", "export"),
    ("election", "candidate", "ballot", "campaign"), ("typhoon", "rainfall", "flood", "evacuation"),
    ("marathon", "runner", "record", "race"), ("housing", "rent", "mortgage", "apartment"),
    ("vaccine", "hospital", "patient", "clinic"), ("railway", "station", "commuter", "timetable"),
    ("festival", "concert", "audience", "stage"), ("interest", "inflation", "bond", "currency"),
    ("data", "server", "cloud", "grid"), ("fishing", "harbour", "catch", "vessel"),
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_SENTENCES = (
    "{person}, a spokesperson for {body}, said on {weekday} that the {s0} plan would be reviewed by {month}.",
    "{company} said {s1} orders rose {pct} percent in the {quarter} quarter from a year earlier.",
    "Officials in {place} said about {number} people were affected by the {s0} changes.",
    "The {s2} figures released on {weekday} were {cmp} than analysts had expected.",
    "{person} told reporters in {place} that the {s3} review would not be delayed.",
    "Critics say the {s0} measures favour large firms over households, according to {person}.",
    "The decision follows months of talks between {body} and {company} over the {s1}.",
    "A further announcement on the {s2} is expected after the {month} meeting in {place}.",
    "Local groups in {place} welcomed the {s3} move but asked for more detail on costs.",
    "{company} shares closed {pct} percent {updown} in {place} after the {s0} news.",
    "{body_cap} estimated the {s1} would cost {number} million won over five years.",
    "\"We need a clear answer on the {s2} before {month},\" {person} said.",
    "The {s0} debate in {place} has drawn {number} written comments since {month}.",
    "Residents interviewed on {weekday} said the {s3} had changed their plans for the year.",
)
_HEADLINES = (
    "{place} {s0} plan faces review as {company} weighs {s1} options",
    "{company} expects {s1} boost after {place} {s0} decision",
    "{body_cap} sets out {s0} timetable for {place}",
    "{place} residents question {s2} costs ahead of {month} vote",
)
_BASE_DAY = date(2025, 1, 6)


@dataclass(frozen=True)
class Topic:
    """What a story is about: one subject's words and one place."""

    subject: tuple[str, str, str, str]
    place: str

    def describe(self) -> str:
        """A short text standing for the topic (embedded as the centre of its vectors)."""
        return f"{' '.join(self.subject)} news from {self.place}"

    def question(self, rng: random.Random) -> str:
        """A question a reader might ask about this topic."""
        s0, s1, s2, _ = self.subject
        return rng.choice((
            f"What did officials in {self.place} say about the {s0} plan?",
            f"How did the {s1} figures in {self.place} compare with expectations?",
            f"When will the {s2} announcement in {self.place} be made?",
        ))

    def passage(self, rng: random.Random) -> str:
        return passage(rng, self)

    def headline(self, n: int) -> str:
        """The title of the topic's ``n``-th synthetic article."""
        return f"{self.place} {self.subject[0]} report {n}"


def topics(n: int, seed: int) -> list[Topic]:
    """``n`` distinct topics, always the same for the same seed."""
    pairs = [(s, p) for s in _SUBJECTS for p in _PLACES]
    random.Random(seed).shuffle(pairs)
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} topics")
    return [Topic(s, p) for s, p in pairs[:n]]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _slots(rng: random.Random, topic: Topic) -> dict[str, str]:
    s0, s1, s2, s3 = topic.subject
    body = rng.choice(_BODIES)
    return {
        "person": _person(rng), "body": body, "body_cap": body[0].upper() + body[1:],
        "company": rng.choice(_COMPANIES), "place": topic.place, "s0": s0, "s1": s1, "s2": s2, "s3": s3,
        "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS), "pct": f"{rng.uniform(0.5, 19):.1f}",
        "quarter": rng.choice(("first", "second", "third", "fourth")), "number": str(rng.randint(12, 9800)),
        "cmp": rng.choice(("stronger", "weaker")), "updown": rng.choice(("higher", "lower")),
    }


def sentences(rng: random.Random, topic: Topic, n: int) -> list[str]:
    """``n`` news-style sentences about ``topic``."""
    return [rng.choice(_SENTENCES).format(**_slots(rng, topic)) for _ in range(n)]


def passage(rng: random.Random, topic: Topic) -> str:
    """About one chunk's worth of text (5-7 sentences, roughly 100 words)."""
    return " ".join(sentences(rng, topic, rng.randint(5, 7)))


@dataclass(frozen=True)
class GeneratedArticle:
    """One article as the plain-text loader reads it."""

    headline: str
    day: date
    text: str

    @property
    def key(self) -> tuple[str, date]:
        """Without a URL, the article id derives from the title and date, so these must be unique."""
        return self.headline, self.day


def article(rng: random.Random, topic: Topic) -> GeneratedArticle:
    """A plain-text article: Published line, headline, 3-8 paragraphs, byline."""
    day = _BASE_DAY + timedelta(days=rng.randint(0, 300))
    headline = rng.choice(_HEADLINES).format(**_slots(rng, topic))
    paragraphs = [" ".join(sentences(rng, topic, rng.randint(2, 3))) for _ in range(rng.randint(3, 8))]
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    byline = f"BY {first.upper()} {last.upper()} [{first.lower()}.{last.lower()}@example.com]"
    text = "\n\n".join([f"Published: {day.isoformat()}", headline, *paragraphs, byline]) + "\n"
    return GeneratedArticle(headline, day, text)


def write_corpus(directory: Path, n_articles: int, seed: int = 7) -> list[Path]:
    """Write ``n_articles`` distinct plain-text articles into ``directory``; the same files for the same seed."""
    rng = random.Random(seed)
    pool = topics(48, seed)
    directory.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, date]] = set()
    paths: list[Path] = []
    while len(paths) < n_articles:
        generated = article(rng, rng.choice(pool))
        if generated.key in seen:
            continue
        seen.add(generated.key)
        path = directory / f"story-{len(paths):05d}.txt"
        path.write_text(generated.text, encoding="utf-8")
        paths.append(path)
    return paths
