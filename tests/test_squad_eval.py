"""The SQuAD 2.0 eval without models: reading the official JSON, the official scoring rules
(the empty prediction for unanswerable questions), and the paragraph-scope article filters."""
import json

import pytest
from typer.testing import CliRunner

from cli.evaluate import run_eval_command
from cli.main import app
from evals.metrics import normalize_answer, squad_normalize
from evals.squad import (
    SquadError,
    check_ingested,
    load_squad,
    question_pools,
    run_squad,
    score_squad_row,
    squad_metrics,
    squad_scores,
)
from index.article import article_id_for
from qa_service.settings import Settings

LAKE_1 = "Lake Ora lies in the Varn valley. The lake was dammed in 1921 by the Ora Power Company."
LAKE_2 = "The valley's only town is Sella, home to about 4,000 people."
TARN_1 = "Mount Tarn rises to 2,310 metres above the Varn valley."

TINY = {
    "version": "v2.0",
    "data": [
        {"title": "Lake_Ora", "paragraphs": [
            {"context": LAKE_1, "qas": [
                {"id": "q-when", "question": "When was Lake Ora dammed?", "is_impossible": False,
                 "answers": [{"text": "1921", "answer_start": 58}, {"text": "1921", "answer_start": 58},
                             {"text": "in 1921", "answer_start": 55}]},
                {"id": "q-drained", "question": "Who drained Lake Ora?", "is_impossible": True, "answers": [],
                 "plausible_answers": [{"text": "the Ora Power Company", "answer_start": 66}]},
            ]},
            {"context": LAKE_2, "qas": [
                {"id": "q-where", "question": "Where do the valley's people live?", "is_impossible": False,
                 "answers": [{"text": "Sella", "answer_start": 26}]},
            ]},
        ]},
        {"title": "Mount Tarn", "paragraphs": [
            {"context": TARN_1, "qas": [
                {"id": "q-high", "question": "How high is Mount Tarn?", "is_impossible": False,
                 "answers": [{"text": "2,310 metres", "answer_start": 20}]},
            ]},
        ]},
    ],
}


@pytest.fixture
def squad_file(tmp_path):
    path = tmp_path / "tiny-v2.0.json"
    path.write_text(json.dumps(TINY), encoding="utf-8")
    return path


def test_load_squad_makes_one_article_per_paragraph(squad_file):
    squad = load_squad(squad_file)
    assert [a.title for a in squad.articles] == ["Lake_Ora, paragraph 1", "Lake_Ora, paragraph 2",
                                                 "Mount Tarn, paragraph 1"]
    assert [a.url for a in squad.articles] == ["squad://Lake_Ora/1", "squad://Lake_Ora/2", "squad://Mount%20Tarn/1"]
    assert [a.body for a in squad.articles] == [LAKE_1, LAKE_2, TARN_1]
    # the id ingestion gives an article: the hash of its canonical url
    assert [a.id for a in squad.articles] == [article_id_for(a.url, "squad", a.title, None) for a in squad.articles]
    assert len({a.id for a in squad.articles}) == 3


def test_load_squad_gold_items(squad_file):
    squad = load_squad(squad_file)
    by_id = {q.id: q for q in squad.questions}
    assert list(by_id) == ["q-when", "q-drained", "q-where", "q-high"]
    assert by_id["q-when"].answers == ("1921", "in 1921")  # duplicates dropped, order kept
    assert by_id["q-drained"].answers == () and not by_id["q-drained"].answerable  # plausible answers ignored
    assert by_id["q-where"].question == "Where do the valley's people live?"
    assert [q.tags for q in squad.questions] == [("when",), ("who",), ("where",), ("other",)]
    ids = [a.id for a in squad.articles]
    assert squad.paragraph_of == {"q-when": ids[0], "q-drained": ids[0], "q-where": ids[1], "q-high": ids[2]}
    assert squad.n_answerable == 3


def test_load_squad_limit_keeps_every_paragraph(squad_file):
    squad = load_squad(squad_file, limit=2)
    assert [q.id for q in squad.questions] == ["q-when", "q-drained"]
    assert len(squad.articles) == 3


def test_load_squad_errors(tmp_path):
    with pytest.raises(SquadError, match="SQuAD file not found"):
        load_squad(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [')
    with pytest.raises(SquadError, match="invalid JSON"):
        load_squad(bad)
    bad.write_text(json.dumps([{"id": "x"}]))
    with pytest.raises(SquadError, match="not SQuAD JSON"):
        load_squad(bad)
    no_answer = json.loads(json.dumps(TINY))
    no_answer["data"][0]["paragraphs"][1]["qas"][0]["answers"] = []
    bad.write_text(json.dumps(no_answer))
    with pytest.raises(SquadError, match=r"paragraphs\[1\]\.qas\[0\] has no answer text and is not marked"):
        load_squad(bad)


# --- official scoring ------------------------------------------------------------------------


def test_official_normalisation_is_the_scripts():
    assert squad_normalize("The Ora  Power-Company, an owner!") == "ora powercompany owner"
    # the project's news rules are not the official ones: no month spelling, only ASCII punctuation
    assert squad_normalize("Jan. 5") == "jan 5" and normalize_answer("Jan. 5") == "january 5"
    assert squad_normalize("“Sella”") == "“sella”" and normalize_answer("“Sella”") == "sella"


def test_empty_prediction_is_right_exactly_on_unanswerable_questions():
    assert squad_scores("", []) == (1.0, 1.0)
    assert squad_scores("Sella", []) == (0.0, 0.0)
    assert squad_scores("", ["Sella"]) == (0.0, 0.0)
    # a prediction that normalises to nothing is the empty prediction, as in the official script
    assert squad_scores("The.", []) == (1.0, 1.0)


def test_answerable_scores_take_the_best_gold_answer():
    assert squad_scores("The Sella!", ["Sella"]) == (1.0, 1.0)
    # "in year 1921" against "1921" (P 1/3, R 1: F1 0.5) and "in 1921" (P 2/3, R 1: F1 0.8)
    assert squad_scores("in the year 1921", ["1921", "in 1921"]) == (0.0, pytest.approx(0.8))
    assert squad_scores("“Sella”", ["Sella"]) == (0.0, 0.0)  # curly quotes stay, officially


def _raw(id_, gold, answer="", abstained=False, error=None):
    return {"id": id_, "question": f"{id_}?", "tags": [], "gold_answers": gold, "evidence_quotes": [],
            "answer": answer, "abstained": abstained, "error": error, "passages": [], "statements": []}


def test_squad_metrics_hand_computed():
    rows = [score_squad_row(r) for r in [
        _raw("a", ["1921", "in 1921"], "It was dammed in 1921 [1]."),      # EM 0, F1 4/7 ("in 1921")
        _raw("b", ["Sella"], "The articles do not say.", abstained=True),  # abstained: 0, 0
        _raw("c", [], "The articles do not say.", abstained=True),         # right: 1, 1
        _raw("d", [], "the Ora Power Company [1]"),                          # answered the impossible: 0, 0
        _raw("e", [], error="RuntimeError: boom"),                           # failed: 0, 0 despite no answer
        _raw("f", ["Sella"], "Sella [1]."),                                  # 1, 1
    ]]
    assert [r["squad_prediction"] for r in rows] == [
        "It was dammed in 1921.", "", "", "the Ora Power Company", "", "Sella."]
    assert [r["squad_exact"] for r in rows] == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert rows[0]["squad_f1"] == pytest.approx(4 / 7)
    metrics = squad_metrics(rows)
    expected = {
        "n_questions": 6, "n_failed": 1,
        "exact": 2 / 6, "f1": (4 / 7 + 1 + 1) / 6,
        "n_has_ans": 3, "has_ans_exact": 1 / 3, "has_ans_f1": (4 / 7 + 1) / 3,
        "n_no_ans": 3, "no_ans_accuracy": 1 / 3,
        "n_answered": 3, "n_answered_has_ans": 2,
        "gold_in_answer": 1.0, "has_ans_gold_in_answer": 2 / 3,
        "answer_words": (5 + 4 + 1) / 3,
    }
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key


def test_squad_metrics_undefined_without_questions_of_a_kind():
    metrics = squad_metrics([score_squad_row(_raw("c", [], "", abstained=True))])
    assert metrics["no_ans_accuracy"] == 1.0 and metrics["exact"] == 1.0
    assert metrics["has_ans_exact"] is None and metrics["gold_in_answer"] is None and metrics["answer_words"] is None


# --- scopes ----------------------------------------------------------------------------------


class _Recorder:
    """Stands in for the answerer: notes each question's filters, then fails it (no model)."""

    def __init__(self):
        self.filters = {}

    def result(self, question, retrieved):
        self.filters[question.text] = question.filters
        raise RuntimeError("no model in this test")


class _Services:
    def __init__(self):
        self.answerer = _Recorder()
        self.checker = None  # never consulted: failed rows have no statements


def test_paragraph_scope_asks_each_question_over_its_own_paragraph(squad_file):
    squad = load_squad(squad_file)
    ids = [a.id for a in squad.articles]
    assert question_pools(squad, "paragraph") == {
        "q-when": (ids[0],), "q-drained": (ids[0],), "q-where": (ids[1],), "q-high": (ids[2],)}
    services = _Services()
    rows = run_squad(services, squad, 3, "paragraph")
    asked = services.answerer.filters
    assert asked["Where do the valley's people live?"].article_ids == [ids[1]]
    assert asked["When was Lake Ora dammed?"].article_ids == [ids[0]]
    assert asked["How high is Mount Tarn?"].article_ids == [ids[2]]
    assert [r["pool"] for r in rows] == [[ids[0]], [ids[0]], [ids[1]], [ids[2]]]
    # every question failed: scored wrong, the unanswerable one included
    assert [r["squad_exact"] for r in rows] == [0.0] * 4


def test_corpus_scope_has_no_filter(squad_file):
    squad = load_squad(squad_file)
    assert question_pools(squad, "corpus") is None
    services = _Services()
    rows = run_squad(services, squad, 3, "corpus")
    assert all(f is None for f in services.answerer.filters.values()) and len(services.answerer.filters) == 4
    assert all("pool" not in r for r in rows)
    with pytest.raises(SquadError, match="unknown scope"):
        question_pools(squad, "week")


def test_check_ingested_names_missing_paragraphs(squad_file):
    squad = load_squad(squad_file, limit=3)
    ids = [a.id for a in squad.articles]
    check_ingested(squad, ids[:2])  # the third paragraph has no question within the limit
    with pytest.raises(SquadError, match="1 paragraph"):
        check_ingested(squad, ids[:1])


# --- the command, up to the point where models would load ------------------------------------


def _run(tmp_path, gold_args, **options):
    return run_eval_command(Settings(data_dir=tmp_path / "data"), gold_args, report=tmp_path / "report", **options)


def test_eval_squad_bad_arguments(tmp_path, squad_file, capsys):
    assert _run(tmp_path, ["gold.jsonl"], squad=squad_file) == 2
    assert "--squad takes no GOLD file" in capsys.readouterr().err
    assert _run(tmp_path, [], squad=squad_file, corpus=[tmp_path]) == 2
    assert _run(tmp_path, [], squad=squad_file, scope="week") == 2
    assert "--scope with --squad must be one of paragraph, corpus, got 'week'" in capsys.readouterr().err
    assert _run(tmp_path, [], squad=tmp_path / "missing.json") == 2
    assert "SQuAD file not found" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_eval_command_line_passes_squad_and_scope(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--squad", str(tmp_path / "none.json"), "--scope", "corpus",
                                      "--report", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "SQuAD file not found" in result.output
