"""newsroom-dev to gold conversion on a tiny made-up pair of files, and list questions (all_of):
naming some of the items is wrong, naming all of them right. No model is loaded."""
import json
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from cli.evaluate import with_all_of
from evals.gold import GoldError, load_gold, parse_gold, question_kind
from evals.metrics import aggregate, by_tag, names_all, score_row
from evals.newsroom_dev import NewsroomError, convert, evidence_quotes, main
from index.loaders import load_paths
from qa_service.settings import Settings

BRIDGE = ("OSBY, March 3 (Example Wire) - Mayor Mara Quist opened the Kell bridge on Monday.\n\n"
          "The bridge links Osby with Lenn. A second span reaches Tarrow, across the river delta.\n\n"
          "\"It took nine years,\" Quist said.")
MUSEUM = ("LENN, April 9 (Example Wire) - The Lenn city museum closed for repairs on Tuesday.\n\n"
          "No date has been set for its reopening, the museum said.")
ARTICLES = [
    {"id": "n01", "title": "Kell bridge opens", "body": BRIDGE, "url": "https://example.org/wire/kell-bridge",
     "source": "example-wire", "published_at": "2025-03-03"},
    {"id": "n02", "title": "Lenn museum closes", "body": MUSEUM, "url": "https://example.org/wire/lenn-museum",
     "source": "example-wire", "published_at": "2025-04-09"},
]
QUESTIONS = [
    {"id": "n01-q1", "article": "n01", "question": "Who opened the Kell bridge?", "answers": ["Mara Quist"],
     "answerable": True, "open": False, "paraphrase": False,
     "evidence": "OSBY, March 3 (Example Wire) - Mayor Mara Quist opened the Kell bridge on Monday."},
    {"id": "n01-q2", "article": "n01", "question": "Which places does the crossing connect?",
     "answers": ["Osby, Lenn and Tarrow"], "all_of": ["Osby", "Lenn", "Tarrow"], "answerable": True,
     "open": False, "paraphrase": True,
     "evidence": "The bridge links Osby with Lenn. A second span reaches Tarrow, across the river delta."},
    {"id": "n01-q3", "article": "n01", "question": "How much did the bridge cost?", "answers": [],
     "answerable": False, "open": False, "paraphrase": False, "evidence": ""},
    {"id": "n02-q1", "article": "n02", "question": "When will the museum reopen?",
     "answers": ["No date has been set"], "answerable": True, "open": True, "paraphrase": False,
     "evidence": "No date has been set for its reopening, the museum said."},
]


def _write(directory, articles=ARTICLES, questions=QUESTIONS):
    directory.mkdir(exist_ok=True)
    for name, records in (("articles.jsonl", articles), ("questions.jsonl", questions)):
        (directory / name).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return directory


@pytest.fixture
def src(tmp_path):
    return _write(tmp_path / "newsroom-dev")


def test_conversion_is_a_valid_gold_file(src, tmp_path):
    out = tmp_path / "gold" / "newsroom-dev.jsonl"
    assert main([str(src), str(out)]) == 0
    items = {item.id: item for item in load_gold(out)}
    assert list(items) == ["n01-q1", "n01-q2", "n01-q3", "n02-q1"]
    assert items["n01-q1"].answers == ("Mara Quist",) and items["n01-q1"].all_of == ()
    assert items["n01-q2"].all_of == ("Osby", "Lenn", "Tarrow")
    assert items["n01-q3"].answers == () and items["n01-q3"].evidence == ()
    assert items["n02-q1"].answers == ("No date has been set",)


def test_evidence_carries_the_id_our_loader_gives_and_quotes_the_body(src):
    loaded = load_paths([src / "articles.jsonl"])
    assert not loaded.failures
    ids = {a.url: a.id for a in loaded.articles}
    bridge_id, museum_id = ids[ARTICLES[0]["url"]], ids[ARTICLES[1]["url"]]
    assert bridge_id not in ("n01", "n02")
    records = {r["id"]: r for r in convert(src)}
    assert records["n01-q1"]["evidence"] == [{"article_id": bridge_id, "quote": QUESTIONS[0]["evidence"]}]
    # two sentences: two quotes, each an exact slice of the body
    assert records["n01-q2"]["evidence"] == [
        {"article_id": bridge_id, "quote": "The bridge links Osby with Lenn."},
        {"article_id": bridge_id, "quote": "A second span reaches Tarrow, across the river delta."},
    ]
    assert records["n02-q1"]["evidence"][0]["article_id"] == museum_id
    assert all(e["quote"] in (BRIDGE if e["article_id"] == bridge_id else MUSEUM)
               for r in records.values() for e in r["evidence"])


def test_tags(src):
    tags = {r["id"]: r["tags"] for r in convert(src)}
    assert tags == {
        "n01-q1": ["literal", "who"],
        "n01-q2": ["paraphrase", "list", "which"],
        "n01-q3": ["literal", "unanswerable", "how-much"],
        "n02-q1": ["literal", "open", "when"],
    }


@pytest.mark.parametrize("question, kind", [
    ("Who won?", "who"), ("Whose car was it?", "who"), ("In what year did it open?", "what"),
    ("How many people live there?", "how-much"), ("How much did it cost?", "how-much"),
    ("Where is it?", "where"), ("Which team won?", "which"), ("Why did it close?", "why"),
    ("How long is the bridge?", "other"), ("Did it rain?", "other"), ("By WHEN must it be done?", "when"),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def test_conversion_errors_name_the_line(tmp_path):
    wrong = [dict(q) for q in QUESTIONS]
    wrong[3]["evidence"] = "The museum will reopen in May."
    src = _write(tmp_path / "a", questions=wrong)
    with pytest.raises(NewsroomError, match=r"questions.jsonl:4: the evidence is not text of article 'n02'"):
        convert(src)
    wrong = [dict(q) for q in QUESTIONS]
    wrong[1]["article"] = "n09"
    with pytest.raises(NewsroomError, match=r"questions.jsonl:2: unknown article 'n09'"):
        convert(_write(tmp_path / "b", questions=wrong))
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out.jsonl")]) == 2
    assert not (tmp_path / "out.jsonl").exists()


def test_evidence_quotes_are_sentences_of_the_body():
    body = "One came. \"Two went,\" he said. Three stayed."
    # sentences need not be adjacent in the body; each is a slice of it
    assert evidence_quotes("One came. Three stayed.", body) == ["One came.", "Three stayed."]
    assert evidence_quotes("\"Two went,\" he said. Three stayed.", body) == ["\"Two went,\" he said.", "Three stayed."]
    assert evidence_quotes("One came. Four left.", body) == []
    assert evidence_quotes("one came.", body) == []


# --- all_of in gold files and in the metrics ---------------------------------------------


def test_gold_all_of_field_is_checked():
    line = {"id": "l", "question": "Which?", "answers": ["A and B"], "all_of": ["A", "B"]}
    assert parse_gold(json.dumps(line))[0].all_of == ("A", "B")
    with pytest.raises(GoldError, match="'all_of' is for list questions"):
        parse_gold(json.dumps({**line, "answers": []}))
    with pytest.raises(GoldError, match="'all_of' must be a list of non-empty strings"):
        parse_gold(json.dumps({**line, "all_of": "A, B"}))


class _NoChecker:
    def supports(self, statement, evidence):
        raise AssertionError("no statements here: the checker is never asked")


LIST_GOLD = {"gold_answers": ["Osby, Lenn and Tarrow"], "gold_all_of": ["Osby", "Lenn", "Tarrow"]}
PASSAGES = ["The bridge links Osby with Lenn.", "A second span reaches Tarrow."]


def _row(id_, answer, abstained=False, error=None, tags=(), **gold):
    raw = {"id": id_, "question": f"{id_}?", "tags": list(tags), "evidence_quotes": [], "answer": answer,
           "abstained": abstained, "error": error, "passages": PASSAGES, "statements": [], "latency_ms": 1.0,
           **(gold or LIST_GOLD)}
    return score_row(raw, _NoChecker())


def test_naming_two_of_three_items_is_wrong():
    row = _row("two", "The bridge links Osby and Lenn [1].")
    assert row["list_complete"] is False
    assert (row["answer_recall"], row["em"], row["f1"]) == (0.0, 0.0, 0.0)
    # every item was in the passages: the answer lost one
    assert row["outcome"] == "retrieved_wrong"


def test_naming_all_three_items_is_right_whatever_the_case_and_order():
    row = _row("three", "It links tarrow, LENN and Osby [1].")
    assert row["list_complete"] is True
    assert row["answer_recall"] == 1.0 and row["outcome"] == "right"
    # F1 with the gold answer: "it links tarrow lenn and osby" vs "osby lenn and tarrow": P 4/6, R 1
    assert row["f1"] == pytest.approx(0.8) and row["em"] == 0.0
    assert _row("exact", "Osby, Lenn and Tarrow.")["em"] == 1.0


def test_items_match_whole_words_only():
    assert not names_all("Osbyville, Lenn and Tarrow", ["Osby", "Lenn", "Tarrow"])
    assert names_all("the Lenn line, OSBY and tarrow", ["Osby", "Lenn", "Tarrow"])
    assert not names_all("anything", [])
    assert _row("partial-word", "Osbyville, Lenn and Tarrow")["answer_recall"] == 0.0


def test_missing_item_in_the_passages_is_not_retrieved():
    raw_gold = {"gold_answers": ["Osby and Kell"], "gold_all_of": ["Osby", "Kell"]}
    assert _row("kell", "Osby", **raw_gold)["outcome"] == "not_retrieved"


def test_lists_complete_in_the_aggregate():
    rows = [
        _row("two", "Osby and Lenn."),
        _row("three", "Osby, Lenn and Tarrow."),
        _row("abstained", "The articles do not say.", abstained=True),
        _row("failed", "", error="RuntimeError: boom"),
        _row("plain", "Mara Quist", gold_answers=["Mara Quist"]),
    ]
    metrics = aggregate(rows)
    assert metrics["n_lists"] == 4 and metrics["lists_complete"] == 0.25
    assert metrics["answer_recall"] == pytest.approx(2 / 5)
    # no list question: no list figures
    assert "lists_complete" not in aggregate([rows[-1]]) and "n_lists" not in aggregate([rows[-1]])


def test_median_answer_words_by_tag():
    who = {"gold_answers": ["Mara Quist"], "tags": ["who"]}
    rows = [
        _row("w1", "Quist", **who), _row("w2", "Mara Quist [1].", **who),
        _row("w3", "The mayor, Mara Quist, opened the bridge on a rainy Monday.", **who),
        _row("w4", "The articles do not say anything about it at all.", abstained=True, **who),
        _row("h1", "9 years", gold_answers=["nine years"], tags=["how-much", "literal"]),
    ]
    tags = by_tag(rows)
    assert tags["who"]["answer_words_median"] == 2.0  # 1, 2 and 11 words; the abstention left out
    assert tags["how-much"]["answer_words_median"] == 2.0 and tags["literal"]["n_with_gold"] == 1


def test_gold_runs_carry_all_of_into_rows():
    items = parse_gold("\n".join(json.dumps(r) for r in [
        {"id": "l", "question": "Which?", "answers": ["A and B"], "all_of": ["A", "B"]},
        {"id": "p", "question": "Who?", "answers": ["C"]},
    ]))
    rows = with_all_of([{"id": "l", "answer": "A"}, {"id": "p", "answer": "C"}], items)
    assert rows == [{"id": "l", "answer": "A", "gold_all_of": ["A", "B"]}, {"id": "p", "answer": "C"}]


# --- a converted set through `qa-service eval GOLD`, the container replaced ----------------------


class _ScriptedAnswerer:
    """Answers from a script keyed by question (no retrieval, no model); abstains otherwise."""

    def __init__(self, script):
        self.script = script

    def result(self, question, on_passages=None):
        from qa_service.models import Answer

        text = self.script.get(question.text)
        answer = Answer(question=question.text, answer=text or "The indexed articles do not answer this.",
                        abstained=text is None, sentences=[], citations=[], passages=[],
                        timings_ms={"generate": 0.0}, model="scripted")
        if on_passages:
            on_passages([])
        return SimpleNamespace(answer=answer, usage=SimpleNamespace(tokens=0, first_token_ms=None))


def test_eval_of_a_converted_set_scores_lists_and_lengths(src, tmp_path, monkeypatch):
    import cli.evaluate as evaluate

    gold = tmp_path / "gold.jsonl"
    assert main([str(src), str(gold)]) == 0
    script = {"Who opened the Kell bridge?": "Mayor Mara Quist [1].",
              "Which places does the crossing connect?": "Osby and Lenn [1]."}
    services = SimpleNamespace(answerer=_ScriptedAnswerer(script), checker=_NoChecker())

    @contextmanager
    def scripted(settings, corpus):
        yield services, {"description": "a scripted answerer"}

    monkeypatch.setattr(evaluate, "_gold_services", scripted)
    monkeypatch.setattr(evaluate, "model_ids", lambda _: {})
    settings = Settings(data_dir=tmp_path / "data")
    assert evaluate.run_eval_command(settings, [str(gold)], report=tmp_path / "report") == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    assert data["metrics"]["n_lists"] == 1 and data["metrics"]["lists_complete"] == 0.0
    # right: the who question only; the list one names two of three places
    assert data["metrics"]["answer_recall"] == round(1 / 3, 4)  # the report rounds to 4 decimals
    rows = {r["id"]: r for r in data["rows"]}
    assert rows["n01-q2"]["gold_all_of"] == ["Osby", "Lenn", "Tarrow"] and rows["n01-q2"]["list_complete"] is False
    assert "gold_all_of" not in rows["n01-q1"]
    assert data["by_tag"]["who"]["answer_words_median"] == 3.0
    assert "| median answer words |" in (tmp_path / "report" / "report.md").read_text()
