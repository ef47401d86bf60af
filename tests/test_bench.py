"""`qa-service bench --quick` end to end (no speed assertions), and the generated corpus."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from evals.bench_corpus import write_corpus
from index.loaders import load_paths

SECTIONS = {"ingest", "retrieval", "ask", "serve"}
RATIOS = {"ingest_vs_raw", "search_vs_raw_10k", "ask_vs_raw_llm"}


def test_generated_corpus_is_deterministic_and_loads(tmp_path):
    first = write_corpus(tmp_path / "a", 1000)
    second = write_corpus(tmp_path / "b", 1000)
    assert [p.read_text() for p in first] == [p.read_text() for p in second]
    loaded = load_paths([tmp_path / "a"])
    assert not loaded.failures
    # Without URLs, ids derive from title + date: a repeated pair would be ingested once.
    assert len({a.id for a in loaded.articles}) == 1000
    for article in loaded.articles:
        assert article.published_at and article.authors and len(article.body.split()) > 50


@pytest.mark.slow
def test_quick_bench_writes_every_section_and_ratio(tmp_path):
    script = Path(sys.executable).with_name("qa-service")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_DATA_DIR": str(tmp_path / "data")}
    env.pop("QA_CHROMA_HOST", None)
    done = subprocess.run([str(script), "bench", "--quick", "--report", str(tmp_path / "report")],
                          env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]

    result = json.loads((tmp_path / "report" / "bench.json").read_text())
    assert result["quick"] is True
    assert result["machine"]["cores"] >= 1
    assert set(result["sections"]) == SECTIONS
    assert not [name for name, s in result["sections"].items() if "error" in s]
    assert set(result["ratios"]) == RATIOS
    for key, value in result["ratios"].items():
        assert isinstance(value, (int, float)) and value > 0, key

    sections = result["sections"]
    assert sections["ingest"]["articles"] == 200 and sections["ingest"]["chunks"] > 200
    assert [s["chunks"] for s in sections["retrieval"].values()] == [1000, 10000]
    ask = sections["ask"]
    assert ask["questions"] == 4 and 0 <= ask["answered"] <= 4
    assert set(ask["ours_ms"]) == {"total_ms", "retrieve_ms", "generate_ms", "verify_ms", "overhead_ms"}
    assert set(ask["raw_ms"]) == {"raw_ms"}
    # The raw side evaluates the texts the model judged: some were, at most judge_candidates a question.
    assert 0 < ask["judged_mean"] <= 4
    assert ask["ratio"] == result["ratios"]["ask_vs_raw_llm"]
    ours = ask["ours_ms"]
    assert ours["total_ms"]["p50"] >= max(ours["generate_ms"]["p50"], ours["overhead_ms"]["p50"])
    assert sections["serve"]["startup_s"] > 0 and sections["serve"]["peak_rss_mb"] > 100
    assert "search 10k" in done.stdout and "candidates judged per question" in done.stdout
    # Every section ran in temporary indexes: the configured data directory stays untouched.
    assert not (tmp_path / "data" / "chroma").exists()


RTQA = Path(__file__).parent / "fixtures" / "realtimeqa" / "past" / "2025"


def test_a_news_pool_makes_distinct_chunks_of_its_stories_paragraphs():
    from evals.bench_scale import news_pool

    pool = news_pool(RTQA)
    assert pool and all(story.paragraphs and story.questions for story in pool)
    rng = random.Random(1)
    texts = [story.passage(rng) for story in pool for _ in range(20)]
    paragraphs = {p for story in pool for p in story.paragraphs}
    # each chunk is the pool's own paragraphs, recombined: distinct chunks from a small pool
    assert all(any(p in text for p in paragraphs) for text in texts)
    assert len(set(texts)) > len(texts) * 0.8


def test_synthetic_index_writes_sentence_vectors_of_each_chunk_beside_the_same_chunks(tmp_path):
    import numpy as np

    from evals.bench_scale import news_pool
    from evals.bench_search import SyntheticIndex
    from index.store import ChromaStore, chunk_of_sentence, make_client

    pool = news_pool(RTQA)
    centres = np.eye(len(pool), 8, dtype=np.float32)
    stores = {k: ChromaStore(make_client(path=str(tmp_path / str(k))), "articles", "m", 8) for k in (0, 3)}
    for k, store in stores.items():
        SyntheticIndex(store, centres, pool, sources=4, sentences_per_chunk=k).grow_to(40)
    plain, with_sentences = stores[0], stores[3]
    assert plain.count_chunks() == with_sentences.count_chunks() == 40
    assert plain.sentences.count() == 0 and with_sentences.sentences.count() == 120
    chunks = with_sentences.chunks.get(include=["documents", "embeddings"])
    same = plain.chunks.get(ids=chunks["ids"], include=["documents", "embeddings"])
    assert same["documents"] == chunks["documents"]  # the sentences leave the chunks as they were
    assert np.allclose(same["embeddings"], chunks["embeddings"])
    texts = dict(zip(chunks["ids"], chunks["documents"], strict=True))
    vectors = dict(zip(chunks["ids"], chunks["embeddings"], strict=True))
    got = with_sentences.sentences.get(include=["documents", "embeddings", "metadatas"])
    by_chunk: dict[str, list[tuple[str, str]]] = {}
    closeness = []
    for i, text, vector, meta in zip(got["ids"], got["documents"], got["embeddings"], got["metadatas"], strict=True):
        by_chunk.setdefault(chunk_of_sentence(i), []).append((i, text))
        assert meta["article_id"] == chunk_of_sentence(i).split(":")[0] and meta["source"].startswith("bench")
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
        closeness.append(np.dot(vector, vectors[chunk_of_sentence(i)]))
    assert np.mean(closeness) > 0.6  # drawn around their chunk's vector (noise of norm ~0.8)
    # Every chunk (the last article's through write_articles too) has its 3 sentences: its text in 3 pieces.
    assert set(by_chunk) == set(texts)
    for chunk_id, rows in by_chunk.items():
        assert " ".join(t for _, t in sorted(rows)) == texts[chunk_id] and len(rows) == 3
    found = with_sentences.nearest_sentences(np.asarray(vectors[chunks["ids"][0]]), 5)
    assert chunk_of_sentence(found[0][0]) == chunks["ids"][0]
    for store in stores.values():
        store.close()


@pytest.mark.slow
def test_scale_bench_builds_serves_and_measures_an_index(tmp_path):
    script = Path(sys.executable).with_name("qa-service")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_DATA_DIR": str(tmp_path / "data")}
    env.pop("QA_CHROMA_HOST", None)
    done = subprocess.run([str(script), "bench", "--scale", "2000", "--pool", str(RTQA), "--report",
                           str(tmp_path / "report"), "--keep", str(tmp_path / "index")],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    section = json.loads((tmp_path / "report" / "scale-2000.json").read_text())["section"]
    assert section["written"] == 2000 and section["texts"] == "news pool"
    for key in ("search_ms", "search_one_source_ms"):
        assert 0 < section[key]["p50"] <= section[key]["p95"]
    assert section["new_article_found_after_ms"] >= 0 and section["startup_s"] > 0
    assert section["peak_rss_mb"] >= section["rss_searched_mb"] > 100 and section["rss_ready_mb"] > 100
    assert section["disk_mb"] > 1 and section["sentences"] == 0  # no --sentence-vectors
    assert "/v1/search p50 / p95" in done.stdout
    assert (tmp_path / "index").is_dir() and not (tmp_path / "data" / "chroma").exists()
    # The kept index is measured again as it is: nothing rebuilt (the first run's new article is still there).
    again = subprocess.run([str(script), "bench", "--scale", "2000", "--pool", str(RTQA), "--report",
                            str(tmp_path / "again"), "--keep", str(tmp_path / "index")],
                           env=env, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-3000:]
    measured = json.loads((tmp_path / "again" / "scale-2000.json").read_text())["section"]
    assert measured["reused"] and measured["written"] > 2000 and "write_s" not in measured
    assert measured["search_ms"]["p50"] > 0 and "the kept index of an earlier run" in again.stdout
