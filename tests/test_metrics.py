"""Unit tests of evals.metrics with hand-computed expected values."""
import math
import re

import pytest

from evals.metrics import (
    OUTCOMES,
    RATIO_KEYS,
    abstention_scores,
    aggregate,
    answer_measures,
    answer_outcome,
    answer_recall,
    answer_recall_by_tag,
    answer_words,
    by_tag,
    citation_scores,
    cites_gold_evidence,
    exact_match,
    first_hit_rank,
    mrr,
    normalize_answer,
    percentile,
    recall_at_k,
    score_row,
    strip_citations,
    token_f1,
)

_STOP = {"a", "an", "the", "in", "on", "of", "was", "is"}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class WordChecker:
    """Test double for the project's support checker (embedding similarity + word
    overlap): supported when every content word of the statement occurs in the
    joined evidence. citation_scores only depends on the checker's verdicts, so a
    deterministic judge is enough to exercise ALCE's bookkeeping."""

    def supports(self, statement, evidence):
        return bool(evidence) and (_words(statement) - _STOP) <= _words(" ".join(evidence))


CHECKER = WordChecker()


# --- normalisation and answer metrics -------------------------------------------------


def test_normalize_answer_squad_rules():
    assert normalize_answer("The  Cat, sat on a MAT!") == "cat sat on mat"
    # Unicode quotes and dashes count as punctuation too; "theater" keeps its "the".
    assert normalize_answer("“Biden’s” plan — an idea at the Theater") == "bidens plan idea at theater"
    assert normalize_answer("") == ""


def test_abbreviated_month_before_a_day_is_the_same_date():
    assert answer_recall("The ban takes effect as soon as Jan. 19 [1].", ["January 19"]) == 1.0
    assert answer_recall("It opened on Sept. 24, 2025.", ["September 24, 2025"]) == 1.0
    assert normalize_answer("Jan Smith met Dec. officials") == "jan smith met dec officials"
    assert answer_recall("The ban takes effect on Jan. 20.", ["January 19"]) == 0.0


def test_strip_citations():
    assert strip_citations("Lee met Fink [1][2]. He left [3, 4].") == "Lee met Fink. He left."


def test_exact_match():
    assert exact_match("The Cat!", ["dog", "cat"]) == 1.0
    assert exact_match("cat sat", ["cat"]) == 0.0
    assert exact_match("cat", []) == 0.0


def test_token_f1_hand_computed():
    # pred tokens [cat, sat] vs gold [cat, sat, down]: 2 shared,
    # P = 2/2, R = 2/3, F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    assert token_f1("the cat sat", ["a cat sat down"]) == pytest.approx(0.8)
    # best alias: [cat] vs [cat, sat]: P = 1, R = 1/2, F1 = 2/3
    assert token_f1("cat", ["dog", "cat sat"]) == pytest.approx(2 / 3)
    # repeated tokens are counted once per gold occurrence: P = 1/2, R = 1, F1 = 2/3
    assert token_f1("cat cat", ["cat"]) == pytest.approx(2 / 3)
    assert token_f1("dog", ["cat"]) == 0.0
    assert token_f1("", ["cat"]) == 0.0
    assert token_f1("cat", []) == 0.0


def test_answer_recall_matches_whole_tokens():
    assert answer_recall("President Lee met Larry Fink [1].", ["BlackRock", "larry fink"]) == 1.0
    assert answer_recall("It happened in 1900.", ["9"]) == 0.0
    assert answer_recall("Finkelstein spoke", ["Fink"]) == 0.0
    assert answer_recall("anything", ["the"]) == 0.0  # alias normalises to nothing
    assert answer_recall("anything", []) == 0.0


def test_answer_words():
    assert answer_words("Larry Fink met Lee.") == 4
    assert answer_words("  ") == 0


# --- abstention -----------------------------------------------------------------------


def test_abstention_scores_small_table():
    # q:          1     2      3      4      5
    predicted = [True, True, False, False, False]
    gold = [True, False, True, True, False]
    # abstained on 1, 2 -> only 1 truly unanswerable: precision 1/2
    # unanswerable 1, 3, 4 -> abstained on 1: recall 1/3
    precision, recall = abstention_scores(predicted, gold)
    assert precision == pytest.approx(1 / 2)
    assert recall == pytest.approx(1 / 3)


def test_abstention_scores_undefined_and_mismatch():
    assert abstention_scores([False, False], [True, False]) == (None, 0.0)
    assert abstention_scores([True], [False]) == (0.0, None)
    with pytest.raises(ValueError):
        abstention_scores([True], [True, False])


# --- retrieval ------------------------------------------------------------------------

PASSAGES = [
    "Weather is fine.",
    "Markets fell, sharply, on Monday.",
    "Larry Fink met the President.",
]


def test_first_hit_rank():
    assert first_hit_rank(PASSAGES, ["Markets fell sharply on Monday"], []) == 2
    assert first_hit_rank(PASSAGES, [], ["larry fink"]) == 3
    assert first_hit_rank(PASSAGES, ["not there"], ["Larry Fink"]) == 3
    assert first_hit_rank(PASSAGES, ["not there"], ["Fin"]) is None
    assert first_hit_rank(PASSAGES, [], []) is None
    assert first_hit_rank([], ["Weather"], []) is None


def test_recall_at_k_and_mrr():
    ranks = [1, 3, None, 2]
    assert recall_at_k(ranks, 1) == 0.25
    assert recall_at_k(ranks, 3) == 0.75
    assert recall_at_k(ranks, 10) == 0.75
    # (1 + 1/3 + 0 + 1/2) / 4 = 11/24
    assert mrr(ranks) == pytest.approx(11 / 24)
    assert recall_at_k([], 5) is None
    assert mrr([]) is None


# --- citations (ALCE) -----------------------------------------------------------------

CLAIM = "Fink met Lee in Seoul"
FULL = "Fink met Lee in Seoul on Monday."
PART_WHO = "Fink met Lee."
PART_WHERE = "The meeting was in Seoul."
OFF_TOPIC = "Markets fell."


def test_citation_supporting_plus_irrelevant_is_half_precision():
    assert citation_scores([(CLAIM, [FULL, OFF_TOPIC])], CHECKER) == (1.0, 0.5)


def test_citation_joint_only_support_credits_both():
    assert citation_scores([(CLAIM, [PART_WHO, PART_WHERE])], CHECKER) == (1.0, 1.0)


def test_citation_unsupported_single_and_multi():
    assert citation_scores([("Fink resigned", [PART_WHO])], CHECKER) == (0.0, 0.0)
    assert citation_scores([("Fink resigned", [PART_WHO, FULL])], CHECKER) == (0.0, 0.0)


def test_citation_mixed_answer():
    statements = [
        (CLAIM + " [1][2].", [FULL, OFF_TOPIC]),  # markers stripped before checking; credits 1 of 2
        (CLAIM, [PART_WHO, PART_WHERE]),  # credits 2 of 2
        ("Fink resigned", [PART_WHO]),  # credits 0 of 1
        ("Lee smiled", []),  # no citation: unsupported, adds nothing to the count
    ]
    recall, precision = citation_scores(statements, CHECKER)
    assert recall == pytest.approx(2 / 4)
    assert precision == pytest.approx(3 / 5)


def test_citation_without_statements_or_citations():
    assert citation_scores([], CHECKER) == (None, None)
    assert citation_scores([("Lee smiled", [])], CHECKER) == (0.0, 0.0)


# --- percentile -----------------------------------------------------------------------


def test_percentile_linear_interpolation():
    values = [50, 15, 40, 20, 35]  # sorted: 15 20 35 40 50
    # q=40: position 4 * 0.4 = 1.6 -> 20 + 0.6 * (35 - 20) = 29
    assert percentile(values, 40) == pytest.approx(29.0)
    assert percentile(values, 50) == 35.0
    # q=95: position 3.8 -> 40 + 0.8 * 10 = 48
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile(values, 0) == 15.0
    assert percentile(values, 100) == 50.0
    assert percentile([7], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


# --- rows -----------------------------------------------------------------------------


def _raw(id_, **fields):
    row = {
        "id": id_, "question": f"question {id_}?", "tags": [], "gold_answers": [],
        "evidence_quotes": [], "answer": "", "abstained": False, "error": None,
        "passages": [], "statements": [], "latency_ms": 0.0, "generate_ms": 0.0, "tokens": 0,
    }
    return {**row, **fields}


RAW_ROWS = [
    _raw(
        "a", tags=["people"], gold_answers=["Larry Fink"],
        evidence_quotes=["Lee met BlackRock CEO Larry Fink in New York."],
        answer="Lee met Larry Fink [1].",
        passages=["Rain is expected.", "On Monday Lee met BlackRock CEO Larry Fink in New York."],
        statements=[{"text": "Lee met Larry Fink [1].", "quotes": ["Lee met BlackRock CEO Larry Fink in New York."]}],
        latency_ms=1000.0, generate_ms=500.0, tokens=20, first_token_ms=100.0,
    ),
    _raw(
        "b", tags=["places", "people"], gold_answers=["Seoul", "Seoul, South Korea"],
        answer="Seoul [1]", passages=["The meeting took place in Seoul."],
        statements=[{"text": "Seoul [1]", "quotes": ["The meeting took place in Seoul.", OFF_TOPIC]}],
        latency_ms=2000.0, generate_ms=1500.0, tokens=40, first_token_ms=500.0,
    ),
    _raw("c", tags=["people"], gold_answers=["Fink"], error="timeout", latency_ms=30000.0),
    _raw(
        "d", tags=["people"], answer="The indexed articles do not answer this.", abstained=True,
        passages=["Something else."], latency_ms=3000.0, generate_ms=1000.0, tokens=10, first_token_ms=200.0,
    ),
]


def test_score_row_fields():
    a, b, c, d = (score_row(r, CHECKER) for r in RAW_ROWS)
    # a: [lee, met, larry, fink] vs [larry, fink]: P = 1/2, R = 1, F1 = 2/3
    assert (a["em"], a["f1"], a["answer_recall"]) == (0.0, pytest.approx(2 / 3), 1.0)
    assert a["answer_words"] == 4 and a["retrieval_rank"] == 2
    assert (a["citation_recall"], a["citation_precision"]) == (1.0, 1.0)
    assert (b["em"], b["f1"], b["answer_recall"], b["retrieval_rank"]) == (1.0, 1.0, 1.0, 1)
    assert (b["citation_recall"], b["citation_precision"]) == (1.0, 0.5)
    assert (c["em"], c["f1"], c["answer_recall"], c["retrieval_rank"]) == (0.0, 0.0, 0.0, None)
    assert (c["citation_recall"], c["citation_precision"]) == (None, None)
    assert (d["em"], d["f1"], d["answer_recall"], d["retrieval_rank"]) == (None, None, None, None)
    assert [r["outcome"] for r in (a, b, c, d)] == ["right", "right", "failed", None]
    assert [r["cited_evidence_correct"] for r in (a, b, c, d)] == [1.0, 1.0, None, None]
    assert [r["wrong_but_cited"] for r in (a, b, c, d)] == [False, False, False, None]
    assert d["id"] == "d" and d["question"] == "question d?"  # raw fields kept


def test_score_row_abstention_is_an_empty_answer():
    row = score_row(_raw("x", gold_answers=["answer"], answer="I cannot answer this.", abstained=True), CHECKER)
    assert row["answer_recall"] == 0.0


def test_aggregate_four_rows():
    metrics = aggregate([score_row(r, CHECKER) for r in RAW_ROWS])
    expected = {
        "n_questions": 4,
        "n_failed": 1,
        # answerable a, b, c (c failed counts 0)
        "em": 1 / 3,
        "f1": (2 / 3 + 1 + 0) / 3,
        "answer_recall": 2 / 3,
        # only d abstained, and d is the only unanswerable question
        "abstain_precision": 1.0,
        "abstain_recall": 1.0,
        # ranks of a, b, c: 2, 1, None
        "recall_at_1": 1 / 3,
        "recall_at_3": 2 / 3,
        "recall_at_5": 2 / 3,
        "recall_at_10": 2 / 3,
        "mrr": (1 / 2 + 1) / 3,
        # answered answerable a and b, both right, both citing a quote with the alias
        "answer_precision": 1.0,
        "cited_evidence_correctness": 1.0,
        "n_answered_with_gold": 2,
        "n_wrong_but_cited": 0,
        "n_not_retrieved": 0,
        "n_retrieved_abstained": 0,
        "n_retrieved_wrong": 0,
        "n_right": 2,
        # a and b: recall (1 + 1) / 2, precision (1 + 0.5) / 2
        "citation_recall": 1.0,
        "citation_precision": 0.75,
        # latencies of a, b, d (c failed): 1000, 2000, 3000; p95 position 1.9 -> 2900
        "latency_p50_ms": 2000.0,
        "latency_p95_ms": 2900.0,
        # tokens after the first (19 + 39 + 9) / time after the first (0.4 + 1.0 + 0.8) s
        "tokens_per_s": 67 / 2.2,
        # answered a, b: (4 + 1) / 2
        "answer_words": 2.5,
    }
    assert metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value), key


def test_aggregate_empty_run_is_all_undefined():
    metrics = aggregate([])
    counts = {k for k in metrics if k.startswith("n_")}
    assert counts == {"n_questions", "n_failed", "n_answered_with_gold", "n_wrong_but_cited",
                      *(f"n_{o}" for o in OUTCOMES if o != "failed")}
    assert all(metrics[k] == 0 for k in counts)
    assert set(RATIO_KEYS) <= metrics.keys()
    undefined = {k for k, v in metrics.items() if v is None}
    assert undefined == metrics.keys() - counts
    assert not any(isinstance(v, float) and math.isnan(v) for v in metrics.values())


def test_answer_recall_by_tag():
    by_tag = answer_recall_by_tag([score_row(r, CHECKER) for r in RAW_ROWS])
    # people: a 1, b 1, c failed 0 (d is unanswerable); places: b 1
    assert by_tag == {"people": (pytest.approx(2 / 3), 3), "places": (1.0, 1)}


# --- gold-judged answer measures (independent of the support checker) -------------------


def test_cites_gold_evidence_by_alias_on_whole_tokens():
    assert cites_gold_evidence(["Lee met Larry Fink."], ["Larry Fink"], [])
    assert cites_gold_evidence(["Rain.", "LARRY FINK, BlackRock's chief, smiled."], ["larry fink"], [])
    assert not cites_gold_evidence(["Lee met Finkelstein."], ["Fink"], [])
    assert not cites_gold_evidence([], ["Fink"], ["Fink met Lee."])


def test_cites_gold_evidence_by_overlap_with_an_evidence_quote():
    evidence = ["The leaders met in Seoul on Monday."]  # tokens: leaders met in seoul on monday (6)
    # 3 of the 6 evidence tokens (met, in, monday): exactly half counts
    assert cites_gold_evidence(["Ministers met in Busan last Monday."], ["Lee"], evidence)
    # 2 of 6 (met, monday): a sentence sharing a few words is about something else
    assert not cites_gold_evidence(["Markets met resistance by Monday."], ["Lee"], evidence)
    # a repeated word counts once per occurrence in the evidence
    assert not cites_gold_evidence(["met met met"], [], ["met in Seoul"])
    assert not cites_gold_evidence(["Anything at all."], [], ["", "  "])


def test_answer_outcome_by_first_lost_stage():
    def outcome(failed=False, abstained=False, right=False, alias_retrieved=True):
        return answer_outcome(failed=failed, abstained=abstained, right=right, alias_retrieved=alias_retrieved)

    assert outcome(right=True) == "right"
    assert outcome(right=True, alias_retrieved=False) == "right"  # the answer counts, however it was found
    assert outcome(alias_retrieved=False) == "not_retrieved"
    assert outcome(alias_retrieved=False, abstained=True) == "not_retrieved"
    assert outcome(abstained=True) == "retrieved_abstained"
    assert outcome() == "retrieved_wrong"
    assert outcome(failed=True, alias_retrieved=False) == "failed"


FINK_PASSAGE = "On Monday Lee met BlackRock CEO Larry Fink in New York."
GOLD_ROWS = [
    # answered wrong, quoting a real sentence that says something else: the checker
    # accepts the citation (citation recall 1), the gold says the answer is wrong
    _raw(
        "wrong-cited", tags=["people"], gold_answers=["Larry Fink"], evidence_quotes=[FINK_PASSAGE],
        answer="Lee met Jamie Dimon [1].", passages=[FINK_PASSAGE, "Lee met Jamie Dimon at the bank."],
        statements=[{"text": "Lee met Jamie Dimon [1].", "quotes": ["Lee met Jamie Dimon at the bank."]}],
    ),
    # right answer, but the quote neither names the answer nor matches the evidence
    _raw(
        "right-unbacked", tags=["people", "places"], gold_answers=["Seoul"],
        evidence_quotes=["The leaders met in Seoul on Monday."],
        answer="They met in Seoul [1].", passages=["The leaders met in Seoul on Monday.", "Markets fell."],
        statements=[{"text": "They met in Seoul [1].", "quotes": [OFF_TOPIC]}],
    ),
    # right answer whose quote lacks the alias but restates the evidence: correct
    _raw(
        "right-overlap", tags=["places"], gold_answers=["Seoul"],
        evidence_quotes=["The leaders met in Seoul on Monday."],
        answer="Seoul [1].", passages=["The leaders met in the capital on Monday."],
        statements=[{"text": "Seoul [1].", "quotes": ["The leaders met in the capital on Monday."]}],
    ),
    # wrong and uncited: wrong, but not wrong-but-cited; the alias never reached the passages
    _raw("wrong-uncited", tags=["people"], gold_answers=["Busan"], answer="Incheon.", passages=["Rain."],
         statements=[{"text": "Incheon.", "quotes": []}]),
    _raw("abstained-found", gold_answers=["Busan"], abstained=True, answer="Not in the articles.",
         passages=["The race was held in Busan."]),
    _raw("abstained-missing", gold_answers=["Busan"], abstained=True, passages=["Rain."]),
    # unanswerable but answered with a citation: an abstention failure, not wrong-but-cited
    _raw("unanswerable", answer="Ann [1].", passages=["Ann spoke."],
         statements=[{"text": "Ann [1].", "quotes": ["Ann spoke."]}]),
]


def test_score_row_gold_judged_fields():
    rows = {r["id"]: r for r in (score_row(raw, CHECKER) for raw in GOLD_ROWS)}
    wrong = rows["wrong-cited"]
    assert (wrong["wrong_but_cited"], wrong["outcome"], wrong["cited_evidence_correct"]) == (
        True, "retrieved_wrong", None)
    assert wrong["citation_recall"] == 1.0  # self-consistent, and wrong
    assert (rows["right-unbacked"]["outcome"], rows["right-unbacked"]["cited_evidence_correct"]) == ("right", 0.0)
    assert rows["right-unbacked"]["wrong_but_cited"] is False
    assert rows["right-overlap"]["cited_evidence_correct"] == 1.0
    assert (rows["wrong-uncited"]["wrong_but_cited"], rows["wrong-uncited"]["outcome"]) == (False, "not_retrieved")
    assert rows["abstained-found"]["outcome"] == "retrieved_abstained"
    assert rows["abstained-missing"]["outcome"] == "not_retrieved"
    assert rows["abstained-found"]["wrong_but_cited"] is False
    unanswerable = rows["unanswerable"]
    assert (unanswerable["wrong_but_cited"], unanswerable["outcome"], unanswerable["cited_evidence_correct"]) == (
        None, None, None)


def test_answer_measures_and_aggregate():
    scored = [score_row(raw, CHECKER) for raw in GOLD_ROWS]
    expected = {
        # answered with gold: wrong-cited, right-unbacked, right-overlap, wrong-uncited -> 2 right of 4
        "answer_precision": 2 / 4,
        # right: right-unbacked (0), right-overlap (1)
        "cited_evidence_correctness": 1 / 2,
        "n_answered_with_gold": 4,
        "n_wrong_but_cited": 1,
        "n_not_retrieved": 2,
        "n_retrieved_abstained": 1,
        "n_retrieved_wrong": 1,
        "n_right": 2,
    }
    assert answer_measures(scored) == pytest.approx(expected)
    metrics = aggregate(scored)
    assert {k: metrics[k] for k in expected} == pytest.approx(expected)
    # 6 answerable, 2 right: recall 1/3, where precision says 1/2 of the answers are right
    assert metrics["answer_recall"] == pytest.approx(2 / 6)
    # the checker credits the wrong answer's citation (1) and none of the others' (0):
    # citation recall 1/4 counts a wrong answer and misses a right one
    assert metrics["citation_recall"] == pytest.approx(1 / 4)


def test_by_tag():
    tags = by_tag([score_row(raw, CHECKER) for raw in GOLD_ROWS])
    assert list(tags) == ["people", "places"]
    people, places = tags["people"], tags["places"]
    # people: wrong-cited, right-unbacked, wrong-uncited
    assert (people["n_with_gold"], people["answer_recall"], people["answer_precision"]) == (
        3, pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert (people["cited_evidence_correctness"], people["n_wrong_but_cited"]) == (0.0, 1)
    # places: right-unbacked, right-overlap
    assert (places["n_with_gold"], places["answer_precision"], places["cited_evidence_correctness"]) == (2, 1.0, 0.5)
    assert places["n_wrong_but_cited"] == 0 and places["n_right"] == 2
