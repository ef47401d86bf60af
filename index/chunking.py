"""Chunks cut on the analyser's sentence boundaries, with exact character offsets."""
from __future__ import annotations

from index.article import Article, Chunk
from index.sentences import encode_spans, sentence_spans


def pack_sentences(spans: list[tuple[int, int]], lengths: list[int], size: int,
                   overlap: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into chunks of at most ``size`` words (a longer
    sentence is a chunk of its own); each chunk starts with the last sentences of
    the previous one, up to ``overlap`` words, so a fact told across a boundary is
    whole in one chunk. Returns ``(first, last)`` sentence indexes, inclusive."""
    groups: list[tuple[int, int]] = []
    first = 0
    while first < len(spans):
        last, used = first, lengths[first]
        while last + 1 < len(spans) and used + lengths[last + 1] <= size:
            last += 1
            used += lengths[last]
        groups.append((first, last))
        if last + 1 >= len(spans):
            break
        # Step back over whole sentences while the overlap lasts, but always move forward.
        nxt, carried = last + 1, 0
        while nxt - 1 > first and carried + lengths[nxt - 1] <= overlap:
            nxt -= 1
            carried += lengths[nxt]
        first = nxt
    return groups


class Chunker:
    """Splits article bodies into chunks of whole sentences (``size`` and ``overlap`` in words).

    Chunks and the passages' sentences come from the same splitter, so a chunk
    never ends inside a sentence and its stored sentence vectors line up with
    the sentences a passage shows at question time.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        self.size = chunk_size
        self.overlap = chunk_overlap

    def chunk(self, article: Article, deadline: float | None = None) -> list[Chunk]:
        """``AnalysisTimeout`` past ``deadline`` (``time.monotonic()``)."""
        body = article.body
        spans = sentence_spans(body, deadline)
        lengths = [len(body[a:b].split()) for a, b in spans]
        return [Chunk(article.id, n, body[spans[i][0]:spans[j][1]], spans[i][0], spans[j][1],
                      sentence_spans=encode_spans([(a - spans[i][0], b - spans[i][0]) for a, b in spans[i:j + 1]]))
                for n, (i, j) in enumerate(pack_sentences(spans, lengths, self.size, self.overlap))]
