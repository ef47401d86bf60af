"""The reader's rules on analysed-sentence fixtures: real spaCy analysis, no MiniLM, no Gemma.

Each fixture is a small story whose sentences are given a closeness to the
question (what MiniLM would give at run time) as two-dimensional unit
vectors; everything else (sentences, parse, entities, candidates, scores,
the answer-or-abstain decision) runs as in the service.
"""
from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from index.chunking import pack_sentences
from index.sentences import sentence_spans
from qa_service.answering import listed
from qa_service.asked import analyse_question
from qa_service.models import Passage, PassageSentence
from qa_service.reader import FEATURES, Reading, candidates_in, read, read_sentences
from qa_service.settings import CheckingSettings

THRESHOLD = CheckingSettings().min_answer_score


def reading(question: str, story: str, closeness: dict[int, float] | None = None) -> Reading:
    """Read ``story`` (one passage) for ``question``; sentence i is ``closeness[i]`` (default 0.5)
    close to the question in meaning."""
    spans = sentence_spans(story)
    sentences = [PassageSentence(text=story[a:b], start=a, end=b) for a, b in spans]
    passage = Passage(n=1, chunk_id="story:0", article_id="story", title="A story", text=story, start=0,
                      end=len(story), score=1.0, sentences=sentences)
    sims = [(closeness or {}).get(i, 0.5) for i in range(len(sentences))]
    vectors = np.array([[s, math.sqrt(1 - s * s)] for s in sims])
    q = analyse_question(question)
    return read(q, read_sentences(q, [passage], [vectors], np.array([1.0, 0.0])), 0.0, THRESHOLD)


def answer_of(r: Reading) -> str | None:
    return listed(r.answer.items) if r.answer is not None else None


TRAM = ("The city council voted on Tuesday to build a new tram line. The tram line will cost 240 million euros, "
        "the council said. Construction will start in April 2026. The line will have 14 stops.")


def test_each_typed_question_gets_the_span_attached_to_what_it_asks():
    assert answer_of(reading("How much will the tram line cost?", TRAM, {1: 0.7})) == "240 million euros"
    assert answer_of(reading("When will construction start?", TRAM, {2: 0.7})) == "April 2026"
    assert "14" in answer_of(reading("How many stops will the line have?", TRAM, {3: 0.7}))


def test_a_number_attached_to_another_noun_does_not_answer():
    story = "The stadium will cost 300 million euros and hold 40,000 fans."
    assert answer_of(reading("How many fans will the stadium hold?", story, {0: 0.7})) == "40,000 fans"
    assert answer_of(reading("How much will the stadium cost?", story, {0: 0.7})) == "300 million euros"
    # The figure of the sentence belongs to "cost": it cannot be a date of opening.
    q = analyse_question("When will the stadium open?")
    assert not any(c.label in ("MONEY", "CARDINAL") for s in reading(q.text, story).sentences
                   for c in candidates_in(q, s))


def test_a_paraphrased_predicate_is_answered():
    story = ("Anna Berg was elected chair of the regional council on Monday, replacing Tomas Lind. "
             "The council meets every month.")
    assert answer_of(reading("Who leads the regional council?", story, {0: 0.6})) == "Anna Berg"


def test_a_list_split_across_two_sentences_is_answered_whole():
    story = ("The agreement was signed by Foreign Minister Lucia Pardo at a ceremony in Genvale. "
             "Her counterpart, Viktor Anselm, added his signature minutes later. "
             "The treaty must still be ratified.")
    answer = answer_of(reading("Who signed the agreement?", story, {0: 0.7, 1: 0.5}))
    assert answer is not None and "Lucia Pardo" in answer and "Viktor Anselm" in answer


def test_a_name_that_opens_the_sentence_is_a_name():
    story = "Hamas rejected the ceasefire proposal on Monday. Talks will resume in Cairo next week."
    assert answer_of(reading("Who rejected the ceasefire proposal?", story, {0: 0.7})) == "Hamas"


def test_may_in_a_question_is_a_modal_not_a_month():
    q = analyse_question("Who may lead the party after the vote?")
    assert q.kind == "who" and q.focus == {"lead"} and "may" not in q.names and "may" not in q.content
    story = "Ines Falk may lead the party after the vote, officials said. The vote is in June."
    assert answer_of(reading(q.text, story, {0: 0.7})) == "Ines Falk"


def test_a_story_that_says_it_is_not_known_answers_with_that_statement():
    story = ("Oster-Vale and Tamsin Line agreed to merge on Monday. The companies did not disclose the value of "
             "the deal. The merged group will have 41 vessels.")
    r = reading("What is the deal worth?", story, {1: 0.6})
    assert r.answer is None and r.open_statement is not None
    assert r.open_statement.sentence.text == "The companies did not disclose the value of the deal."


def test_a_caveat_goes_beside_an_answer_only_when_it_is_about_what_was_asked():
    story = ("The memorandum was signed by Minister Bae Kyung-hoon and Larry Fink in New York. "
             "The memorandum did not put a figure on how much BlackRock will invest.")
    signed = reading("Who signed the memorandum with BlackRock?", story, {0: 0.7, 1: 0.5})
    assert answer_of(signed) is not None and "Bae Kyung-hoon" in answer_of(signed)
    assert signed.open_statement is None  # the sum is not known; who signed is
    story = ("Brenmark will pay 40 million euros up front for the mill. It did not say what it will pay "
             "later for the land, the company said.")
    paid = reading("How much will Brenmark pay for the mill?", story, {0: 0.7, 1: 0.6})
    assert answer_of(paid) == "40 million euros" and paid.open_statement is not None


def test_the_dateline_is_not_an_answer():
    story = "GENVALE, March 3 (Example Wire) - The health ministry approved the new vaccine on Tuesday."
    q = analyse_question("Where was the vaccine approved?")
    found = [c.text for s in reading(q.text, story).sentences for c in candidates_in(q, s)]
    assert "GENVALE" not in found


def test_a_figure_keeps_the_unit_it_counts():
    story = "Aske was found guilty of hiding 310 million crowns in losses from the bank's board."
    assert answer_of(reading("How much in losses did Aske hide?", story, {0: 0.7})) == "310 million crowns"


def test_nothing_of_the_type_asked_abstains():
    story = "The museum reopened on Saturday after a two-year renovation. Visitors queued for hours."
    r = reading("Who designed the new hall?", story, {0: 0.3, 1: 0.2})
    assert r.answer is None and r.open_statement is None


@pytest.mark.parametrize("question, kind, labels", [
    ("Who signed the treaty?", "who", "PERSON"),
    ("When will the bridge reopen?", "when", "DATE"),
    ("Where will the plant be built?", "where", "GPE"),
    ("How much did the museum cost?", "amount", "MONEY"),
    ("How many people died?", "count", "CARDINAL"),
    ("Which company built the satellite?", "which", "ORG"),
    ("What year did the Normans conquer England?", "when", "DATE"),
    ("What is the deal worth?", "amount", "MONEY"),
])
def test_the_expected_answer_type_comes_from_the_wh_word_and_its_noun(question, kind, labels):
    q = analyse_question(question)
    assert q.kind == kind and q.labels[0] == labels


def test_chunks_are_whole_sentences_with_overlap():
    lengths = [10, 10, 10, 10, 10]
    spans = [(i * 100, i * 100 + 50) for i in range(5)]
    groups = pack_sentences(spans, lengths, size=25, overlap=10)
    assert groups[0] == (0, 1)
    assert all(a <= b for a, b in groups) and groups[-1][1] == 4
    # Each chunk after the first repeats the previous chunk's last sentence.
    assert all(later[0] == earlier[1] for earlier, later in pairwise(groups))
    # A sentence longer than the size is a chunk of its own, and the packing still moves on.
    assert pack_sentences([(0, 10), (10, 20)], [100, 5], size=20, overlap=10) == [(0, 0), (1, 1)]


def test_the_abstention_threshold_is_the_one_fitted_with_the_weights():
    import json
    from importlib import resources

    fitted = json.loads(resources.files("qa_service").joinpath("rules/reader_weights.json").read_text())
    assert CheckingSettings().min_answer_score == fitted["threshold"]


def test_a_phrase_that_only_repeats_the_question_and_its_type_noun_is_no_candidate():
    q = analyse_question("What interim dividend will Brenmark pay?")
    r = reading(q.text, "Brenmark cut its interim dividend to 1.10 crowns per share from 1.40 crowns.", {0: 0.7})
    found = [c.text for s in r.sentences for c in candidates_in(q, s)]
    assert "1.10 crowns" in found
    assert not any("dividend" in text for text in found), found


def _dated(n: int, story: str, published: str) -> Passage:
    spans = sentence_spans(story)
    return Passage(n=n, chunk_id=f"story{n}:0", article_id=f"story{n}", title=f"Story {n}", text=story, start=0,
                   end=len(story), score=1.0, published_at=published,
                   sentences=[PassageSentence(text=story[a:b], start=a, end=b) for a, b in spans])


@pytest.mark.parametrize(("said_unknown_on", "expected"), [("2025-03-01", "12 million euros"), ("2025-09-01", None)])
def test_a_later_story_that_gives_the_figure_outranks_an_earlier_not_disclosed(said_unknown_on, expected):
    """News moves on: "did not disclose" in March, "cost 12 million euros" in June. A statement
    that it is not known still wins when it is the later news."""
    unknown = _dated(1, "The port authority did not disclose how much the new crane cost.", said_unknown_on)
    figure = _dated(2, "The new crane cost 12 million euros, the port authority said on Monday.", "2025-06-01")
    q = analyse_question("How much did the new crane cost?")
    closer, farther = np.array([[0.8, 0.6]]), np.array([[0.7, math.sqrt(0.51)]])
    r = read(q, read_sentences(q, [unknown, figure], [closer, farther], np.array([1.0, 0.0])), 0.0, THRESHOLD)
    assert answer_of(r) == expected
    assert (r.open_statement is not None) == (expected is None)


def test_a_name_inside_a_not_released_statement_is_no_answer():
    story = "Two men were arrested after the robbery on Friday. Police have not released the suspects' names."
    r = reading("What are the names of the suspects?", story, {1: 0.8})
    assert r.answer is None and r.open_statement is not None
    assert "not released" in r.open_statement.sentence.text


def test_a_figure_of_something_else_gives_way_to_a_statement_that_what_was_asked_is_not_known():
    # The figure's sentence is closer in meaning (it names the company), yet it never states
    # the question's focus ("invest"); the other sentence says that very thing is not known.
    story = ("Orvane Capital is the first fund manager to pass 9 trillion dollars. "
             "The agreement did not specify Orvane's investment, the ministry said.")
    r = reading("How much will Orvane invest?", story, {0: 0.8, 1: 0.6})
    assert r.answer is None and r.open_statement is not None
    assert "did not specify" in r.open_statement.sentence.text


def test_every_name_of_a_coordinated_list_fills_the_role_of_the_first():
    # "attended by A, ..., and B": B hangs from A in the parse, yet attended as much as A did.
    story = ("The talks focused on shipping, and were also attended by Mira Solberg, the port's director, "
             "and Tomas Reyhan, a union leader.")
    q = analyse_question("Who attended the talks?")
    found = {c.text: dict(zip(FEATURES, c.features, strict=True)) for s in reading(q.text, story).sentences
             for c in candidates_in(q, s)}
    assert found["Mira Solberg"]["role"] == found["Tomas Reyhan"]["role"] == 1.0
