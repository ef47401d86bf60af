"""Tests of the eval harness: gold reader, RealTimeQA adapter, runner rows, the `eval` command."""
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from cli.evaluate import run_eval_command
from evals.gold import GoldError, load_gold, parse_gold
from evals.realtimeqa import (
    ANSWERABLE,
    NOT_IN_ARTICLES,
    RealTimeQAError,
    decode_list,
    gold_answer,
    load_weeks,
    parse_day,
)
from evals.runner import NO_POOL, run_gold
from index.loaders import load_paths
from qa_service.answering import Answerer, AnswerEvent, PassagesEvent, TokenEvent
from qa_service.generation import Usage
from qa_service.models import Answer, AnswerSentence, Citation, Passage
from qa_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RTQA = ROOT / "tests" / "fixtures" / "realtimeqa" / "past" / "2025"
METRIC_KEYS = {
    "em", "f1", "answer_recall", "abstain_precision", "abstain_recall", "recall_at_5", "mrr",
    "citation_recall", "citation_precision", "latency_p50_ms", "latency_p95_ms", "answer_words",
    "answer_precision", "cited_evidence_correctness", "n_answered_with_gold", "n_wrong_but_cited",
    "n_not_retrieved", "n_retrieved_abstained", "n_retrieved_wrong", "n_right",
}
RUN_KEYS = {"command", "data", "settings", "models", "prompt_sha256", "git", "versions"}

# --- gold files -------------------------------------------------------------------------

GOOD = "\n".join([
    json.dumps({"id": "q1", "question": " Who won? ", "answers": ["Ann Lee", "Lee"],
                "evidence": [{"quote": "Ann Lee won the race."}], "tags": ["who"], "as_of": "2025-06-01"}),
    "",
    json.dumps({"id": "q2", "question": "What did the cat say?", "answers": []}),
])


def test_parse_gold_reads_every_field():
    first, second = parse_gold(GOOD)
    assert (first.id, first.question, first.answers) == ("q1", "Who won?", ("Ann Lee", "Lee"))
    assert [e.quote for e in first.evidence] == ["Ann Lee won the race."]
    assert first.evidence[0].article_id is None
    assert first.tags == ("who",) and first.as_of == date(2025, 6, 1) and first.answerable
    assert second.answers == () and not second.answerable
    assert (second.evidence, second.tags, second.as_of) == ((), (), None)


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "x", "question": "Q?"', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "x", "question": "Q?"}', "missing field(s): answers"),
        ('{"id": "x", "question": "Q?", "answers": [], "tag": ["who"]}', "unknown field(s): tag"),
        ('{"id": "x", "question": "  ", "answers": []}', "'question' must be a non-empty string"),
        ('{"id": "x", "question": "Q?", "answers": "Ann"}', "'answers' must be a list"),
        ('{"id": "x", "question": "Q?", "answers": [], "evidence": [{"article_id": "a"}]}', "evidence[0]"),
        ('{"id": "x", "question": "Q?", "answers": [], "as_of": "next week"}', "'as_of' must be a YYYY-MM-DD"),
        ('{"id": "q1", "question": "Q?", "answers": []}', "duplicate id 'q1' (first on line 1)"),
    ],
)
def test_parse_gold_names_the_bad_line(line, message):
    text = GOOD.splitlines()[0] + "\n\n" + line + "\n"
    with pytest.raises(GoldError) as err:
        parse_gold(text, "gold.jsonl")
    assert f"gold.jsonl:3: {message}" in str(err.value)


def test_parse_gold_reports_all_bad_lines_and_empty_files():
    with pytest.raises(GoldError) as err:
        parse_gold("{}\nnot json\n", "g.jsonl")
    assert str(err.value).startswith("2 bad line(s) in g.jsonl")
    assert "g.jsonl:1: missing field(s): id, question, answers" in str(err.value)
    assert "g.jsonl:2: invalid JSON" in str(err.value)
    with pytest.raises(GoldError, match="holds no questions"):
        parse_gold("\n  \n", "g.jsonl")


def test_load_gold_missing_file(tmp_path):
    with pytest.raises(GoldError, match="gold file not found"):
        load_gold(tmp_path / "nope.jsonl")


def test_shipped_demo_gold_set_is_valid():
    items = load_gold(ROOT / "evals" / "gold" / "demo.jsonl")
    assert len(items) >= 40
    assert sum(not item.answerable for item in items) >= 8


# --- RealTimeQA -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (["A", "B"], ["A", "B"]),
        ("['A', 'B']", ["A", "B"]),
        ("['Oyster-catcher\\'s cousin', \"it's\"]", ["Oyster-catcher's cousin", "it's"]),
        (["1"], ["1"]),
        ([2], ["2"]),
        ("['0']", ["0"]),
    ],
)
def test_decode_list_reads_both_encodings(value, expected):
    assert decode_list(value, "choices") == expected


@pytest.mark.parametrize("value", ["A, B", "__import__('os').system('true')", "{'a': 1}", None, [["A"]], "['A'"])
def test_decode_list_rejects_other_values(value):
    with pytest.raises(ValueError, match="'choices'"):
        decode_list(value, "choices")


def test_gold_answer_picks_the_first_chosen_choice():
    assert gold_answer({"choices": "['x', 'y', 'z']", "answer": "['2', '0']"}) == "z"
    assert gold_answer({"choices": ["x", " y "], "answer": ["1"]}) == "y"
    with pytest.raises(ValueError, match="outside the 2 choices"):
        gold_answer({"choices": ["x", "y"], "answer": ["2"]})
    with pytest.raises(ValueError, match="choice indexes"):
        gold_answer({"choices": ["x", "y"], "answer": ["B"]})


def test_parse_day():
    assert parse_day("2025/01/04/00:09") == date(2025, 1, 4)
    assert parse_day("2025/06/05") == date(2025, 6, 5)
    assert parse_day("2025/02/30") is None
    assert parse_day("") is None and parse_day(None) is None


def test_load_weeks_fixture():
    first, second = load_weeks(RTQA)
    assert (first.name, second.name) == ("20250606", "20250613")
    # the empty-text search result is skipped; the article two searches returned counts once
    assert len(first.articles) == 3 and len(second.articles) == 2
    assert [q.answers for q in first.questions] == [
        ("Tidewell Construction",), ("Rosalind Achebe",), ("Emerald green",)]
    # second week stores choices and answers as Python-repr strings
    assert [q.answers for q in second.questions] == [("1,204",), ("curlew",)]
    assert [q.tags for q in first.questions] == [
        ("week-2025-06-06", ANSWERABLE), ("week-2025-06-06", ANSWERABLE), ("week-2025-06-06", NOT_IN_ARTICLES)]
    # "curlew" matches "Curlew" in the article: case is ignored
    assert [q.tags[-1] for q in second.questions] == [ANSWERABLE, ANSWERABLE]
    assert (first.n_answerable, second.n_answerable) == (2, 2)
    # as_of: the search day, else (no search_time) the question date
    assert [q.as_of for q in first.questions] == [date(2025, 6, 7), date(2025, 6, 7), date(2025, 6, 5)]
    assert first.questions[0].question == "Which company won the contract to rebuild the Marlowe Bay pier?"


def _narrowed_week(tmp_path: Path) -> Path:
    """Week 20250606 where question 1's search returned only the library story (the mayor
    story is still in the week, via question 0) and question 2 has no search results line."""
    week = tmp_path / "narrowed"
    week.mkdir()
    shutil.copy(RTQA / "20250606_qa.jsonl", week)
    records = [json.loads(line) for line in (RTQA / "20250606_gcs.jsonl").read_text().splitlines() if line.strip()]
    records[1]["search_result"] = [r for r in records[1]["search_result"] if "library" in r["url"]]
    lines = [json.dumps(r) for r in records if r["question_id"] != "20250606_2"]
    (week / "20250606_gcs.jsonl").write_text("\n".join(lines) + "\n")
    return week


def test_load_weeks_pools_and_question_scope(tmp_path):
    week = _narrowed_week(tmp_path)
    (by_week,) = load_weeks(week)
    (by_question,) = load_weeks(week, scope="question")
    ids = {a.title.split()[0]: a.id for a in load_paths([week / "20250606_gcs.jsonl"]).articles}
    # each question's own search results, as the ids the loader gives the week's articles
    assert by_question.pools == {"20250606_0": (ids["Tidewell"], ids["Rosalind"]), "20250606_1": (ids["Harbour"],)}
    assert by_week.pools == by_question.pools
    # answerable over the pool the question is answered over
    assert [q.tags[-1] for q in by_week.questions] == [ANSWERABLE, ANSWERABLE, NOT_IN_ARTICLES]
    assert [q.tags[-1] for q in by_question.questions] == [ANSWERABLE, NOT_IN_ARTICLES, NOT_IN_ARTICLES]
    with pytest.raises(RealTimeQAError, match="unknown scope 'article'"):
        load_weeks(week, scope="article")


def test_load_weeks_limits():
    assert [w.name for w in load_weeks(RTQA, weeks=1)] == ["20250606"]
    limited = load_weeks(RTQA.parent, limit=4)  # a folder above past/YYYY works too
    assert [len(w.questions) for w in limited] == [3, 1]
    assert [len(w.questions) for w in load_weeks(RTQA, limit=2)] == [2]


def test_load_weeks_errors(tmp_path):
    with pytest.raises(RealTimeQAError, match="no \\*_qa.jsonl week files"):
        load_weeks(tmp_path)
    shutil.copy(RTQA / "20250613_qa.jsonl", tmp_path)
    with pytest.raises(RealTimeQAError, match="no search results file 20250613_gcs.jsonl"):
        load_weeks(tmp_path)
    shutil.copy(RTQA / "20250613_gcs.jsonl", tmp_path)
    qa = tmp_path / "20250613_qa.jsonl"
    lines = qa.read_text().splitlines()
    qa.write_text(lines[0] + "\n" + lines[1].replace("\"['3']\"", "\"['7']\"") + "\n")
    with pytest.raises(RealTimeQAError, match="20250613_qa.jsonl:2: answer index 7 is outside the 4 choices"):
        load_weeks(tmp_path)


# --- runner rows --------------------------------------------------------------------------


def _passage(n, text):
    return Passage(n=n, chunk_id=f"a{n}:0", article_id=f"a{n}", title=f"T{n}", text=text, start=0,
                   end=len(text), score=0.5)


class _FakeAnswerer:
    """Replays the events the real Answerer streams (passages, the answer's whole text, the
    answer: a short span cited with its sentence); raises for the question "boom"."""

    result = Answerer.result  # the real one, over these events

    def __init__(self):
        self.asked = []

    def stream(self, question):
        self.asked.append(question)
        passages = [_passage(1, "Ann Lee won the race."), _passage(2, "Rain later.")]
        yield PassagesEvent(passages)
        if question.text == "boom":
            raise RuntimeError("model crashed")
        yield TokenEvent("Ann Lee [1]")
        answer = Answer(
            question=question.text, answer="Ann Lee [1]", abstained=False,
            sentences=[AnswerSentence(text="Ann Lee", citations=[1], support=0.9)],
            citations=[Citation(n=1, passage=1, article_id="a1", title="T1", quote="Ann Lee won the race.",
                                start=0, end=21, score=0.9)],
            passages=passages, timings_ms={"retrieve": 5.0, "generate": 250.0, "verify": 3.0, "total": 258.0},
            model="fake",
        )
        yield AnswerEvent(answer, Usage(tokens=6, first_token_ms=40.0))


class _FakeServices:
    def __init__(self):
        self.answerer = _FakeAnswerer()


def test_run_gold_rows_and_failures():
    items = parse_gold(GOOD) + parse_gold('{"id": "q3", "question": "boom", "answers": ["x"]}')
    services, seen = _FakeServices(), []
    ok, unanswerable, failed = run_gold(services, items, 4, seen.append)
    assert seen == [ok, unanswerable, failed]
    first = services.answerer.asked[0]
    assert (first.text, first.top_k, first.as_of) == ("Who won?", 4, date(2025, 6, 1))
    assert ok["id"] == "q1" and ok["gold_answers"] == ["Ann Lee", "Lee"] and ok["as_of"] == "2025-06-01"
    assert ok["evidence_quotes"] == ["Ann Lee won the race."] and ok["tags"] == ["who"]
    assert ok["answer"] == "Ann Lee [1]" and ok["abstained"] is False and ok["error"] is None
    assert ok["passages"] == ["Ann Lee won the race.", "Rain later."]
    assert ok["statements"] == [{"text": "Ann Lee", "quotes": ["Ann Lee won the race."]}]
    assert ok["citations"][0]["quote"] == "Ann Lee won the race."
    assert (ok["tokens"], ok["first_token_ms"], ok["generate_ms"]) == (6, 40.0, 250.0)
    assert ok["latency_ms"] >= 0
    assert unanswerable["gold_answers"] == [] and unanswerable["as_of"] is None
    assert failed["error"] == "RuntimeError: model crashed"
    assert failed["answer"] == "" and failed["statements"] == [] and failed["tokens"] == 0
    # retrieval had finished before the failure: its passages still count for recall
    assert failed["passages"] == ["Ann Lee won the race.", "Rain later."]
    assert "pool" not in ok and "not_asked" not in ok


def test_run_gold_in_pools():
    items = parse_gold(GOOD)
    services = _FakeServices()
    pooled, unpooled = run_gold(services, items, 4, pools={"q1": ("a1", "a2")})
    (asked,) = services.answerer.asked  # q2 has an empty pool: never asked
    assert asked.text == "Who won?" and asked.filters.article_ids == ["a1", "a2"]
    assert pooled["pool"] == ["a1", "a2"] and pooled["answer"] == "Ann Lee [1]"
    assert unpooled["pool"] == [] and unpooled["not_asked"] == NO_POOL
    assert (unpooled["abstained"], unpooled["error"], unpooled["latency_ms"], unpooled["passages"]) == (
        True, None, None, [])


# --- the eval command without models -----------------------------------------------------------


def _run(tmp_path, gold_args, **options):
    settings = Settings(data_dir=tmp_path / "data")
    return run_eval_command(settings, gold_args, report=tmp_path / "report", **options)


def test_eval_command_bad_arguments(tmp_path, capsys):
    assert _run(tmp_path, [str(tmp_path / "missing.jsonl")]) == 2
    assert "gold file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Q?"}\n')
    assert _run(tmp_path, [str(bad)]) == 2
    assert "bad.jsonl:1: missing field(s): answers" in capsys.readouterr().err
    assert _run(tmp_path, []) == 2
    assert _run(tmp_path, ["a.jsonl", "b.jsonl"]) == 2
    assert _run(tmp_path, [str(bad)], realtimeqa=RTQA) == 2
    assert "--realtimeqa takes no GOLD file" in capsys.readouterr().err
    good = tmp_path / "good.jsonl"
    good.write_text(GOOD)
    assert _run(tmp_path, [str(good)], corpus=[tmp_path / "no-corpus"]) == 2
    assert "corpus path not found" in capsys.readouterr().err
    assert _run(tmp_path, [str(good)], weeks=2) == 2
    assert _run(tmp_path, [str(good)], scope="question") == 2
    assert "--scope only applies with --realtimeqa" in capsys.readouterr().err
    assert _run(tmp_path, [], realtimeqa=RTQA, scope="article") == 2
    assert "--scope must be one of week, question, got 'article'" in capsys.readouterr().err
    assert _run(tmp_path, [], realtimeqa=tmp_path / "nowhere") == 2
    assert not (tmp_path / "report").exists()


def test_eval_compare(tmp_path, capsys):
    for name, f1 in (("a", 0.5), ("b", 0.75)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.json").write_text(json.dumps({"metrics": {"f1": f1, "n_questions": 4}}))
    assert _run(tmp_path, ["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Configuration: not recorded")  # reports from before run records
    assert lines[1] == ""
    assert lines[2].split() == ["metric", "a", "b", "b", "-", "a"]
    assert lines[3].split() == ["f1", "0.5000", "0.7500", "+0.2500"]
    assert lines[4].split() == ["n_questions", "4", "4", "+0"]
    for name, top_k in (("a", 5), ("b", 10)):
        data = json.loads((tmp_path / name / "report.json").read_text())
        (tmp_path / name / "report.json").write_text(json.dumps({"run": {"settings": {"top_k": top_k}}, **data}))
    assert _run(tmp_path, ["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["Configuration differences (a -> b):", "  settings.top_k: 5 -> 10", ""]
    assert lines[3].split() == ["metric", "a", "b", "b", "-", "a"]
    assert _run(tmp_path, ["compare", str(tmp_path / "a")]) == 2
    assert _run(tmp_path, ["compare", str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "cannot read the reports" in capsys.readouterr().err


# --- end to end, real models ------------------------------------------------------------------


def _cli(tmp_path, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "QA_DATA_DIR": str(tmp_path / "data")}
    exe = Path(sys.executable).with_name("qa-service")
    return subprocess.run([str(exe), "eval", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def _check_report(report: Path, n_rows: int) -> dict:
    data = json.loads((report / "report.json").read_text())
    assert METRIC_KEYS <= data["metrics"].keys()
    assert data["metrics"]["n_questions"] == n_rows and data["metrics"]["n_failed"] == 0
    assert len(data["rows"]) == n_rows
    for row in data["rows"]:
        assert {"id", "question", "gold_answers", "answer", "citations", "passages", "f1", "retrieval_rank",
                "outcome", "wrong_but_cited", "cited_evidence_correct"} <= row.keys()
        assert row["error"] is None and (row.get("not_asked") or row["latency_ms"] > 0)
    # what produced the report
    run = data["run"]
    assert RUN_KEYS <= run.keys()
    assert run["models"] == {"embedding": "all-MiniLM-L6-v2", "generation": "gemma-3-270m-q4_k_m"}
    assert run["settings"]["top_k"] == 5 and "api_key" not in run["settings"] and "data_dir" not in run["settings"]
    assert len(run["prompt_sha256"]["answer.txt"]) == 64
    assert run["git"] is None or len(run["git"]["commit"]) == 40
    assert "eval" in run["command"]
    markdown = (report / "report.md").read_text()
    assert markdown.startswith("# ")
    for section in ("## Run", "- Models: embedding all-MiniLM-L6-v2", "| answer_precision |",
                    "| cited_evidence_correctness |", "| citation_recall (self-consistency) |",
                    "## Answers by tag", "## Outcomes of the"):
        assert section in markdown, section
    assert (report / "report.png").read_bytes()[:4] == b"\x89PNG"
    return data


@pytest.mark.slow
def test_eval_demo_slice_end_to_end(tmp_path):
    from index.demo import demo_corpus_path

    report = tmp_path / "report"
    done = _cli(tmp_path, "evals/gold/demo.jsonl", "--corpus", demo_corpus_path(), "--limit", 5, "--report", report)
    assert done.returncode == 0, done.stderr[-3000:]
    data = _check_report(report, 5)
    assert [r["id"] for r in data["rows"]] == [item.id for item in load_gold(ROOT / "evals/gold/demo.jsonl")[:5]]
    # retrieval over the demo corpus finds the evidence for most of these questions
    assert data["metrics"]["recall_at_5"] >= 0.6
    assert str(report / "report.json") in done.stdout and "recall_at_5" in done.stdout
    run_data = data["run"]["data"]
    assert (run_data["questions"], run_data["limit"], run_data["articles"]) == (5, 5, 10)
    assert run_data["gold"] == "evals/gold/demo.jsonl" and len(run_data["articles_sha256"]) == 64
    # outcomes partition the answerable questions; the gold-judged measures are consistent with them
    metrics = data["metrics"]
    answerable = [r for r in data["rows"] if r["gold_answers"]]
    assert sum(metrics[f"n_{o}"] for o in ("not_retrieved", "retrieved_abstained", "retrieved_wrong", "right")) \
        == len(answerable)
    assert metrics["n_right"] == sum(r["answer_recall"] for r in answerable)
    # answers are short spans (a name, a list of names, a date), not sentences
    answered = [r for r in data["rows"] if not r["abstained"]]
    assert answered and all(r["answer_words"] <= 12 for r in answered) and metrics["answer_words"] <= 6
    # the temporary index is gone and the configured one was never touched
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_eval_realtimeqa_fixture_end_to_end(tmp_path):
    report = tmp_path / "report"
    done = _cli(tmp_path, "--realtimeqa", RTQA, "--report", report)
    assert done.returncode == 0, done.stderr[-3000:]
    data = _check_report(report, 5)
    assert list(data) == ["title", "created_at", "run", "metrics", "metrics_answerable", "by_tag", "rows"]
    assert data["metrics_answerable"]["n_questions"] == 4
    assert METRIC_KEYS <= data["metrics_answerable"].keys()
    run_data = data["run"]["data"]
    assert run_data["scope"] == "week" and list(run_data["weeks"]) == ["20250606", "20250613"]
    assert run_data["weeks"]["20250606"] == {"questions": 3, "answerable": 2, "articles": 3, "load_failures": 0}
    by_id = {r["id"]: r for r in data["rows"]}
    assert by_id["20250606_2"]["tags"] == ["week-2025-06-06", NOT_IN_ARTICLES]
    assert by_id["20250613_1"]["gold_answers"] == ["curlew"] and by_id["20250613_1"]["as_of"] == "2025-06-13"
    # each week is asked over its own articles only
    assert all("curlew" not in " ".join(by_id[q]["passages"]).lower() for q in ("20250606_0", "20250606_1"))
    assert by_id["20250613_1"]["retrieval_rank"] == 1
    assert set(data["by_tag"]) == {ANSWERABLE, NOT_IN_ARTICLES, "week-2025-06-06", "week-2025-06-13"}
    markdown = (report / "report.md").read_text()
    assert "scope week: every question searches all the week's articles" in markdown
    assert "## Metrics\n" in markdown and "## Metrics, answerable questions only (4 questions)" in markdown
    assert markdown.index("answerable questions only") < markdown.index("## Worst 10 questions")
    assert "## Outcomes of the 5 questions with gold answers" in markdown


@pytest.mark.slow
def test_eval_realtimeqa_question_scope_end_to_end(tmp_path):
    week = _narrowed_week(tmp_path)
    report = tmp_path / "report"
    done = _cli(tmp_path, "--realtimeqa", week, "--scope", "question", "--report", report)
    assert done.returncode == 0, done.stderr[-3000:]
    data = _check_report(report, 3)
    assert data["run"]["data"]["scope"] == "question" and "scope question" in data["title"]
    by_id = {r["id"]: r for r in data["rows"]}
    # only question 0 has its answer among its own search results
    assert data["metrics_answerable"]["n_questions"] == 1
    # question 1 searched only the library story, though the week holds the mayor story
    assert len(by_id["20250606_1"]["pool"]) == 1
    assert all("Achebe" not in p for p in by_id["20250606_1"]["passages"])
    assert {c["article_id"] for c in by_id["20250606_1"]["citations"]} <= set(by_id["20250606_1"]["pool"])
    # question 2 has no search results: not asked, an abstention
    assert by_id["20250606_2"]["not_asked"] == NO_POOL and by_id["20250606_2"]["abstained"] is True
    markdown = (report / "report.md").read_text()
    assert "each question is answered only over its own search results" in markdown
    assert "(not asked: " + NO_POOL + ")" in markdown


def test_ceiling_counts_questions_whose_week_states_the_answer():
    from evals.ceiling import week_counts

    first, second = load_weeks(RTQA)
    # The tram colour is in no article; the pier and mayor answers are in sentences about them.
    assert week_counts(first) == (3, 2, 2, 2)
    assert week_counts(second) == (2, 2, 2, 2)


def test_ceiling_counts_the_hand_audit_only_for_weeks_it_covers(tmp_path):
    from evals.audit import load_audit
    from evals.ceiling import audit_counts

    first, second = load_weeks(RTQA)
    path = tmp_path / "audit.jsonl"
    # the first three questions get one verdict each
    verdicts = zip((item.id for item in first.questions), ("stated", "earlier_event", "not_stated"), strict=False)
    path.write_text("".join(json.dumps({"question_id": i, "verdict": v, "why": "-"}) + "\n" for i, v in verdicts))
    audit = load_audit(path)
    assert audit_counts(first, audit) == (1, 2)
    assert audit_counts(second, audit) is None  # not audited: no figure rather than a wrong one
    assert load_audit(tmp_path / "missing.jsonl") == {}


def test_an_audited_question_carries_its_verdict_as_a_tag():
    from evals.gold import GoldItem
    from evals.realtimeqa import tag_answerability

    item = GoldItem(id="q1", question="Which app soared?", answers=("RedNote",), tags=("week-x",))
    assert tag_answerability(item, ["users flee to rednote."], {"q1": "stated"}).tags == (
        "week-x", "answerable", "audit-stated")
    assert tag_answerability(item, [], {"q2": "stated"}).tags == ("week-x", "not-in-articles")


def test_the_shipped_audit_judges_each_development_question_once():
    from evals.audit import AUDIT, VERDICTS

    rows = [json.loads(line) for line in AUDIT.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len({r["question_id"] for r in rows}) == 170
    assert {r["verdict"] for r in rows} == set(VERDICTS)
    assert all(r["why"].strip() for r in rows)
