"""Sentence-aware chunking with exact character offsets."""
from __future__ import annotations

from index.article import Article, Chunk


class Chunker:
    """Splits article bodies with llama-index's SentenceSplitter and locates each piece.

    The splitter returns chunk texts only; each is a contiguous slice of the
    body, so we find it from the previous chunk's start to recover offsets.
    """

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        # Imported here: llama-index takes ~1.5 s to import, and a server that
        # only answers questions never chunks.
        from llama_index.core.node_parser import SentenceSplitter

        self._splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)

    def chunk(self, article: Article) -> list[Chunk]:
        chunks: list[Chunk] = []
        cursor = 0
        for text in self._splitter.split_text(article.body):
            start = article.body.find(text, cursor)
            if start < 0:
                # Defensive: the splitter altered whitespace; never emit a chunk
                # whose offsets would not reproduce its text.
                raise ValueError(f"chunk {len(chunks)} of article {article.id} is not a slice of its body")
            chunks.append(Chunk(article.id, len(chunks), text, start, start + len(text)))
            cursor = start + 1
        return chunks
