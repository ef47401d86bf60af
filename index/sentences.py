"""Sentence spans with character offsets.

Written by hand because citation quotes must be exact ``[start, end)`` slices
of the article body, and the library splitters return text without offsets.
"""
from __future__ import annotations

import re

# Abbreviations that end with a period but rarely end a sentence in news copy.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "gov", "sen", "rep", "lt", "col",
    "capt", "sgt", "corp", "inc", "ltd", "co", "vs", "etc", "no", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.n", "u.k", "e.u", "a.m",
    "p.m", "i.e", "e.g", "fig", "approx", "est",
}
# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets),
# then whitespace, then something that can start a sentence.
_BOUNDARY = re.compile(r"""([.!?]["'”’)\]]*)(\s+)(?=["'“‘(\[]?[A-Z0-9])""")
_PARAGRAPH = re.compile(r"\n\s*\n")


def _ends_with_abbreviation(text: str) -> bool:
    word = re.search(r"(\S+)\.$", text)
    if not word:
        return False
    token = word.group(1).lower().lstrip("\"'“(")
    # Single capital letters are initials ("Jae M. Lee").
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence, trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    for para in _paragraph_spans(text):
        start = para[0]
        for match in _BOUNDARY.finditer(text, para[0], para[1]):
            end = match.end(1)
            if _ends_with_abbreviation(text[start : match.start(1) + 1]):
                continue
            spans.append((start, end))
            start = match.end(2)
        if start < para[1]:
            spans.append((start, para[1]))
    return [span for span in spans if text[span[0] : span[1]].strip()]


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _PARAGRAPH.finditer(text):
        spans.append(_trim(text, start, match.start()))
        start = match.end()
    spans.append(_trim(text, start, len(text)))
    return [span for span in spans if span[0] < span[1]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]
