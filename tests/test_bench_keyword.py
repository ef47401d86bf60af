"""evals/bench_keyword.py: both keyword strategies timed on one written index, and a gold set among its chunks."""
from __future__ import annotations

from pathlib import Path

from evals.bench_keyword import bench_keyword
from evals.gold import load_gold
from index.loaders import load_paths

ROOT = Path(__file__).resolve().parents[1]


def test_bench_keyword_times_both_strategies_and_the_gold_recall(tmp_path):
    gold = (load_paths([ROOT / "index" / "demo_corpus"]).articles, load_gold(ROOT / "evals" / "gold" / "demo.jsonl"))
    kept = tmp_path / "k.sqlite3"
    result = bench_keyword(2000, None, n_queries=5, keep=kept, gold=gold)
    assert result["chunks"] == 2000 and kept.exists() and result["write_s"] > 0
    for part in ("unfiltered", "source_filter"):
        assert result[part]["every_word_ms"]["p50"] > 0 and result[part]["rare_words_ms"]["p50"] > 0
        assert result[part]["top5_kept"] == 1.0, "below MATCH_ROWS nothing is pruned: the same hits"
    recall = result["gold"]
    assert recall["questions"] > 0
    assert recall["rare_words_recall_at_5"] == recall["every_word_recall_at_5"] > 0.5

    again = bench_keyword(2000, None, n_queries=5, keep=kept, gold=gold)
    assert again["write_s"] == 0 and again["gold"]["questions"] == recall["questions"], "a kept index is reused"
