"""Pure support scoring: how well a source sentence backs an answer sentence.

Embedding similarity alone rewards topical sentences that do not state the
claim, and word overlap alone rewards shuffled words; the blend plus an
entity/number gate catches the common failure of a small model: a fluent
sentence with a name or figure the sources never gave.
"""
from __future__ import annotations

import re
from typing import Iterable

_STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before
    after above below to from up down in out on off over under again further then once here there
    when where why how all any both each few more most other some such no nor not only own same so
    than too very can will just should now is are was were be been being have has had having do does
    did doing would could might must shall may i me my we our you your he him his she her it its
    they them their what which who whom this that these those am also as said says say according
    while yes""".split()
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
_CITATION_MARK = re.compile(r"\s*\[(\d+)\]")


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'")
    for suffix in ("'s", "ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, lightly stemmed words that carry meaning."""
    return {_stem(w) for w in _WORD.findall(text) if w.lower() not in _STOPWORDS}


def key_terms(text: str) -> set[str]:
    """Names and numbers: capitalised words after the first word, and any token with a digit."""
    words = _WORD.findall(text)
    terms = {_stem(w) for i, w in enumerate(words) if any(ch.isdigit() for ch in w)}
    terms |= {_stem(w) for i, w in enumerate(words) if i > 0 and w[0].isupper() and w.lower() not in _STOPWORDS}
    return terms


def overlap(claim: set[str], source: set[str]) -> float:
    """Share of the claim's words found in the source (1.0 for an empty claim)."""
    return len(claim & source) / len(claim) if claim else 1.0


def support_score(similarity: float, claim_text: str, source_texts: Iterable[str]) -> float:
    """Support in [0, 1] of a claim by one or more source sentences taken together."""
    source = " ".join(source_texts)
    words = overlap(content_words(claim_text), content_words(source))
    terms = overlap(key_terms(claim_text), content_words(source))
    return round(max(0.0, (0.5 * similarity + 0.5 * words) * terms), 4)


def strip_citation_marks(sentence: str) -> tuple[str, list[int]]:
    """The sentence without ``[n]`` markers, and the numbers it cited."""
    cited = [int(n) for n in _CITATION_MARK.findall(sentence)]
    text = _CITATION_MARK.sub("", sentence).strip()
    return re.sub(r"\s+([.,;:!?])", r"\1", text), cited
