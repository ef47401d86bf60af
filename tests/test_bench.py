"""`qa-service bench --quick` end to end (no speed assertions), and the generated corpus."""
from __future__ import annotations

import json
import os
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
