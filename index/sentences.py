"""Sentence spans with character offsets, from the one analyser (``index.analysis``).

Paragraphs (blank-line separated) are hard boundaries; within a paragraph
spaCy's sentence recogniser decides. Citation quotes are exact ``[start, end)``
slices of the article body, so spans, not texts, are the result.
"""
from __future__ import annotations

import re

from index.analysis import sentence_spans_in

_PARAGRAPH = re.compile(r"\n\s*\n")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, trimmed of surrounding whitespace."""
    return sentence_spans_in(_paragraph_spans(text), text)


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _PARAGRAPH.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
