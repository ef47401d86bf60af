"""Sentence spans with character offsets, from the one analyser (``index.analysis``).

Paragraphs (blank-line separated) are hard boundaries; within a paragraph
spaCy's sentence recogniser decides. Citation quotes are exact ``[start, end)``
slices of the article body, so spans, not texts, are the result.

spaCy's tokenizer strips punctuation off a word one character at a time, each
step rescanning the rest, so a long word costs the square of its length: 4,000
characters of "?!" took 3.8 s, 6,000 of "!?." 13 s, 80,000 of letters and
punctuation mixed 2.4 s. So a text is handed over in pieces: a run of
punctuation is cut every ``_MAX_PUNCTUATION`` characters and any word every
``_MAX_WORD``, each cut a hard boundary like a paragraph's; the costliest
200,000 characters measured then took 1.2 s, and every text costs time linear
in its length. News text holds no such run but a separator line or a very
long link (CJK text without spaces is cut too; the English sentence
recogniser finds no sentence in it anyway).
"""
from __future__ import annotations

import re
from itertools import pairwise

from index.analysis import sentence_spans_in

_PARAGRAPH = re.compile(r"\n\s*\n")
_MAX_PUNCTUATION = 64
_MAX_WORD = 200
_LONG_RUNS = ((re.compile(rf"[^\w\s]{{{_MAX_PUNCTUATION + 1},}}"), _MAX_PUNCTUATION),
              (re.compile(rf"\S{{{_MAX_WORD + 1},}}"), _MAX_WORD))


def sentence_spans(text: str, deadline: float | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, trimmed of surrounding whitespace; ``AnalysisTimeout``
    past ``deadline`` (``time.monotonic()``)."""
    return sentence_spans_in(_pieces(text), text, deadline)


def _pieces(text: str) -> list[tuple[int, int]]:
    """The paragraphs, each cut inside its long runs (see the module docstring)."""
    pieces = []
    for start, end in _paragraph_spans(text):
        cuts = sorted({cut for pattern, most in _LONG_RUNS for run in pattern.finditer(text, start, end)
                       for cut in range(run.start() + most, run.end(), most)})
        bounds = [start, *cuts, end]
        pieces += list(pairwise(bounds))
    return pieces


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _PARAGRAPH.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def encode_spans(spans: list[tuple[int, int]]) -> str:
    """Spans as stored beside a chunk ("0-57 58-120"): Chroma metadata and the keyword
    index's columns hold scalars, and this is a tenth of the text's size."""
    return " ".join(f"{start}-{end}" for start, end in spans)


def decode_spans(encoded: str) -> list[tuple[int, int]]:
    return [(int(start), int(end)) for start, end in (span.split("-") for span in encoded.split())]


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
