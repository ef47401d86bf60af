"""Tests of evals.report: the three report files and run comparison."""
import json

import pytest

from evals.metrics import aggregate
from evals.report import compare_reports, format_comparison, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(id_, f1, recall, gold=("gold",), **fields):
    """A row as score_row returns it (only the fields the report reads)."""
    answerable = bool(gold)
    row = {
        "id": id_, "question": f"question {id_}?", "tags": ["news"], "gold_answers": list(gold),
        "evidence_quotes": [], "answer": f"answer {id_}", "abstained": False, "error": None,
        "passages": [], "statements": [], "latency_ms": 1000.0, "generate_ms": 500.0, "tokens": 10,
        "em": float(f1 == 1.0) if answerable else None, "f1": f1 if answerable else None,
        "answer_recall": recall if answerable else None, "answer_words": 2,
        "retrieval_rank": 1, "citation_recall": None, "citation_precision": None,
    }
    return {**row, **fields}


def _rows():
    rows = [_row(f"ok{i}", 1.0, 1.0) for i in range(8)]
    rows += [
        _row("half", 0.5, 1.0, tags=["news", "sport"], latency_ms=1234.5678),
        _row("miss", 0.25, 0.0, question="Who | what?", retrieval_rank=None),
        _row("worst", 0.0, 0.0, error="timeout: generation took too long"),
        _row("unanswered", None, None, gold=(), abstained=True),
        _row("answered-anyway", None, None, gold=()),
    ]
    return rows


@pytest.fixture
def report(tmp_path):
    rows = _rows()
    metrics = aggregate(rows)
    return write_report(tmp_path / "run", metrics, rows, title="unit run"), metrics


def test_write_report_files(report, tmp_path):
    paths, _ = report
    assert set(paths) == {"json", "md", "png"}
    assert [p.name for p in paths.values()] == ["report.json", "report.md", "report.png"]
    assert all(p.parent == tmp_path / "run" and p.stat().st_size > 0 for p in paths.values())
    assert paths["png"].read_bytes()[:8] == PNG_MAGIC


def test_report_json(report):
    paths, metrics = report
    data = json.loads(paths["json"].read_text())
    assert set(data) == {"title", "created_at", "metrics", "rows"}
    assert data["title"] == "unit run"
    assert data["metrics"].keys() == metrics.keys()
    # 11 answerable rows: f1 (8 + 0.5 + 0.25 + 0) / 11 = 0.79545... -> 4 decimals
    assert data["metrics"]["f1"] == 0.7955
    assert data["metrics"]["n_questions"] == 13
    assert len(data["rows"]) == 13
    assert next(r for r in data["rows"] if r["id"] == "half")["latency_ms"] == 1234.6


def test_report_markdown(report):
    text = report[0]["md"].read_text()
    assert text.startswith("# unit run\n")
    assert "| metric | value |" in text
    assert "| f1 | 0.7955 |" in text
    assert "| n_questions | 13 |" in text
    assert "| abstain_precision | 1.0000 |" in text
    assert "| news | 11 | 0.8182 |" in text  # answer recall by tag: 9 / 11
    worst = text.split("## Worst 10 questions", 1)[1]
    listed = [line.split(" | ")[0].lstrip("| ") for line in worst.strip().splitlines()[2:]]
    # answerable by (f1, answer recall) ascending, then unanswerable: answered before abstained
    assert listed[:5] == ["worst", "miss", "half", "ok0", "ok1"]
    assert len(listed) == 10
    assert "Who \\| what?" in worst
    assert "timeout: generation took too long" in worst


def test_report_markdown_lists_unanswerable_after_answerable(tmp_path):
    rows = [_row("right", None, None, gold=(), abstained=True), _row("wrong", None, None, gold=()), _row("a", 1.0, 1.0)]
    paths = write_report(tmp_path, aggregate(rows), rows)
    worst = paths["md"].read_text().split("## Worst 10 questions", 1)[1]
    listed = [line.split(" | ")[0].lstrip("| ") for line in worst.strip().splitlines()[2:]]
    assert listed == ["a", "wrong", "right"]
    assert "(unanswerable)" in worst and "(abstained)" in worst


def test_compare_reports(tmp_path):
    a = {"n_questions": 10, "f1": 0.5, "mrr": None, "latency_p50_ms": 2000.0}
    b = {"n_questions": 12, "f1": 0.75, "mrr": 0.4, "latency_p50_ms": 1500.25, "tokens_per_s": 40.0}
    write_report(tmp_path / "a", a, [])
    paths_b = write_report(tmp_path / "b", b, [])
    rows = compare_reports(tmp_path / "a", paths_b["json"])
    assert rows == [
        ("n_questions", 10, 12, 2),
        ("f1", 0.5, 0.75, 0.25),
        ("mrr", None, 0.4, None),
        ("latency_p50_ms", 2000.0, 1500.2, -499.8),
        ("tokens_per_s", None, 40.0, None),
    ]


def test_format_comparison():
    text = format_comparison([("f1", 0.5, 0.75, 0.25), ("mrr", None, 0.4, None), ("latency_p50_ms", 2000.0, 1500.2, -499.8)])
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "a", "b", "b", "-", "a"]
    assert lines[1].split() == ["f1", "0.5000", "0.7500", "+0.2500"]
    assert lines[2].split() == ["mrr", "-", "0.4000", "-"]
    assert lines[3].split() == ["latency_p50_ms", "2000.0", "1500.2", "-499.8"]
    assert len({len(line) for line in lines}) == 1  # columns aligned
