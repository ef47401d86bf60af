"""The one analysis: sentence spans from spaCy, and an index that records which analyser cut it."""
from __future__ import annotations

import pytest

from index.analysis import ANALYZER_ID
from index.sentences import sentence_spans
from index.store import AnalyzerMismatch, ChromaStore, make_client


def test_spans_are_exact_trimmed_slices_and_paragraphs_are_boundaries():
    text = "  First line without a stop\n\nSecond paragraph. It has two sentences.  "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["First line without a stop", "Second paragraph.",
                                             "It has two sentences."]


def test_an_index_cut_by_another_analyser_is_refused(tmp_path):
    client = make_client(path=str(tmp_path))
    old = client.get_or_create_collection("articles", metadata={"embedding_model": "m", "embedding_dim": 3})
    old.add(ids=["a:0"], embeddings=[[1.0, 0.0, 0.0]], documents=["x"], metadatas=[{"article_id": "a"}])
    with pytest.raises(AnalyzerMismatch, match="re-ingest"):
        ChromaStore(client, "articles", "m", 3)


def test_an_empty_index_takes_this_analyser(tmp_path):
    client = make_client(path=str(tmp_path))
    client.get_or_create_collection("articles", metadata={"embedding_model": "m", "embedding_dim": 3})
    store = ChromaStore(client, "articles", "m", 3)
    assert store.chunks.metadata["analyzer"] == ANALYZER_ID
    store.close()
