"""Tests of evals.report: the three report files and run comparison."""
import json
import sys

import pytest

from evals.metrics import aggregate
from evals.report import compare_reports, compare_runs, format_comparison, format_run_differences, write_report

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
        "cited_evidence_correct": 1.0 if answerable and recall == 1.0 else None,
        "wrong_but_cited": False if answerable else None,
        "outcome": ("right" if recall == 1.0 else "retrieved_wrong") if answerable else None,
    }
    return {**row, **fields}


RUN = {
    "command": "qa-service eval evals/gold/demo.jsonl --corpus index/demo_corpus",
    "data": {"description": "gold demo.jsonl (13 questions) over corpus index/demo_corpus", "questions": 13},
    "settings": {"top_k": 5, "judge_candidates": 4},
    "models": {"embedding": "all-MiniLM-L6-v2", "generation": "gemma-3-270m-q4_k_m"},
    "prompt_sha256": {"answer.txt": "0123456789abcdef" * 4},
    "git": {"commit": "a4312fd" + "0" * 33, "dirty": True},
    "versions": {"llama-cpp-python": "0.3.36", "chromadb": None},
}


def _rows():
    rows = [_row(f"ok{i}", 1.0, 1.0) for i in range(8)]
    rows += [
        _row("half", 0.5, 1.0, tags=["news", "sport"], latency_ms=1234.5678),
        _row("miss", 0.25, 0.0, question="Who | what?", retrieval_rank=None, outcome="not_retrieved"),
        _row("worst", 0.0, 0.0, error="timeout: generation took too long", outcome="failed"),
        _row("cited-wrong", 0.0, 0.0, answer="Jamie Dimon [1].", wrong_but_cited=True,
             statements=[{"text": "Jamie Dimon [1].", "quotes": ["Jamie Dimon spoke | on Monday."]}],
             citations=[{"n": 1, "quote": "Jamie Dimon spoke | on Monday.", "score": 0.9}]),
        _row("cited-wrong-weak", 0.0, 0.0, answer="Ann [1].", wrong_but_cited=True,
             statements=[{"text": "Ann [1].", "quotes": ["Ann smiled."]}],
             citations=[{"n": 1, "quote": "Ann smiled.", "score": 0.6}]),
        _row("gave-up", 0.0, 0.0, abstained=True, outcome="retrieved_abstained"),
        _row("unanswered", None, None, gold=(), abstained=True),
        _row("answered-anyway", None, None, gold=()),
    ]
    return rows


@pytest.fixture
def report(tmp_path):
    rows = _rows()
    metrics = aggregate(rows)
    return write_report(tmp_path / "run", metrics, rows, title="unit run", run=RUN), metrics


def test_write_report_files(report, tmp_path):
    paths, _ = report
    assert set(paths) == {"json", "md", "png"}
    assert [p.name for p in paths.values()] == ["report.json", "report.md", "report.png"]
    assert all(p.parent == tmp_path / "run" and p.stat().st_size > 0 for p in paths.values())
    assert paths["png"].read_bytes()[:8] == PNG_MAGIC


def test_report_without_matplotlib_has_no_chart(tmp_path, monkeypatch):
    # As if the "eval" extra were not installed: importing matplotlib fails.
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    rows = _rows()
    paths = write_report(tmp_path, aggregate(rows), rows, run=RUN)
    assert set(paths) == {"json", "md"} and all(p.stat().st_size > 0 for p in paths.values())
    assert not (tmp_path / "report.png").exists()


def test_report_json(report):
    paths, metrics = report
    data = json.loads(paths["json"].read_text())
    assert list(data) == ["title", "created_at", "run", "metrics", "by_tag", "rows"]
    assert data["title"] == "unit run"
    assert data["run"] == RUN
    assert data["metrics"].keys() == metrics.keys()
    # 14 answerable rows: f1 (8 + 0.5 + 0.25 + 0 * 4) / 14 = 0.62499... -> 4 decimals
    assert data["metrics"]["f1"] == 0.625
    assert data["metrics"]["n_questions"] == 16
    # answered with gold: 8 ok, half, miss, cited-wrong, cited-wrong-weak -> 9 right of 12
    assert data["metrics"]["answer_precision"] == 0.75
    assert data["metrics"]["n_wrong_but_cited"] == 2
    assert data["by_tag"]["news"]["n_with_gold"] == 14 and data["by_tag"]["sport"]["n_with_gold"] == 1
    assert data["by_tag"]["news"]["answer_precision"] == 0.75
    assert len(data["rows"]) == 16
    assert next(r for r in data["rows"] if r["id"] == "half")["latency_ms"] == 1234.6


def test_report_markdown(report):
    text = report[0]["md"].read_text()
    assert text.startswith("# unit run\n")
    run = text.split("## Run", 1)[1].split("## Metrics", 1)[0]
    assert "Data: gold demo.jsonl (13 questions) over corpus index/demo_corpus" in run
    assert "embedding all-MiniLM-L6-v2, generation gemma-3-270m-q4_k_m" in run
    assert "answer.txt `0123456789ab`" in run and "with uncommitted changes" in run
    assert "`top_k=5`, `judge_candidates=4`" in run and "llama-cpp-python 0.3.36" in run
    assert "chromadb" not in run  # not installed: nothing to say
    assert "| metric | value | meaning |" in text
    assert "| f1 | 0.6250 |" in text
    assert "| n_questions | 16 |" in text
    assert "| abstain_precision | 0.5000 |" in text  # unanswered, and gave-up (answerable)
    assert "| citation_recall (self-consistency) | - |" in text
    assert "| answer_precision | 0.7500 |" in text
    assert "| news | 14 | 0.6429 | 12 | 0.7500 | 1.0000 | 2 |" in text  # answer recall by tag: 9 / 14
    outcomes = text.split("## Outcomes of the 14 questions with gold answers", 1)[1]
    assert "| right | 9 | 0.6429 |" in outcomes and "| failed | 1 | 0.0714 |" in outcomes
    assert "| retrieved_wrong | 2 |" in outcomes and "| not_retrieved | 1 |" in outcomes
    assert "### retrieved_abstained: first 1 of 1" in outcomes
    assert "| gave-up | question gave-up? | gold | (abstained) |" in outcomes
    assert "### right" not in outcomes
    cited = text.split("## Wrong but cited: 2 answers, the 2 most convincing", 1)[1].split("## Worst", 1)[0]
    listed = [line.split(" | ")[0].lstrip("| ") for line in cited.strip().splitlines()[4:]]
    assert listed == ["cited-wrong", "cited-wrong-weak"]  # the checker's most confident first
    assert "| Jamie Dimon [1]. | “Jamie Dimon spoke \\| on Monday.” |" in cited
    worst = text.split("## Worst 10 questions", 1)[1]
    listed = [line.split(" | ")[0].lstrip("| ") for line in worst.strip().splitlines()[2:]]
    # answerable by (f1, answer recall) ascending, then unanswerable: answered before abstained
    assert listed[:7] == ["worst", "cited-wrong", "cited-wrong-weak", "gave-up", "miss", "half", "ok0"]
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
    text = format_comparison([("f1", 0.5, 0.75, 0.25), ("mrr", None, 0.4, None),
                              ("latency_p50_ms", 2000.0, 1500.2, -499.8)])
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "a", "b", "b", "-", "a"]
    assert lines[1].split() == ["f1", "0.5000", "0.7500", "+0.2500"]
    assert lines[2].split() == ["mrr", "-", "0.4000", "-"]
    assert lines[3].split() == ["latency_p50_ms", "2000.0", "1500.2", "-499.8"]
    assert len({len(line) for line in lines}) == 1  # columns aligned


def test_compare_runs(tmp_path):
    changed = {**RUN, "settings": {"top_k": 10, "judge_candidates": 4, "rrf_k": 60},
               "git": {"commit": "b" * 40, "dirty": False}}
    write_report(tmp_path / "a", {"f1": 0.5}, [], run=RUN)
    write_report(tmp_path / "b", {"f1": 0.6}, [], run=changed)
    differences = compare_runs(tmp_path / "a", tmp_path / "b")
    assert differences == [
        ("settings.top_k", 5, 10),
        ("git.commit", RUN["git"]["commit"], "b" * 40),
        ("git.dirty", True, False),
        ("settings.rrf_k", None, 60),
    ]
    assert format_run_differences(differences).splitlines() == [
        "Configuration differences (a -> b):",
        "  settings.top_k: 5 -> 10",
        f"  git.commit: {RUN['git']['commit']} -> {'b' * 40}",
        "  git.dirty: true -> false",
        "  settings.rrf_k: - -> 60",
    ]
    assert compare_runs(tmp_path / "a", tmp_path / "a") == []
    assert format_run_differences([]) == "Configuration: the same.\n"
    write_report(tmp_path / "old", {"f1": 0.4}, [])  # a report from before run records
    assert compare_runs(tmp_path / "old", tmp_path / "a") is None
    assert "not recorded" in format_run_differences(None)
