"""Verification against the question: the checker with the real embedding model, on hand-made evidence."""
from __future__ import annotations

import pytest

from qa_service.citations import CitationChecker
from qa_service.evidence import rank_evidence, sentences_of
from qa_service.models import Passage
from qa_service.questions import adds_answer, is_open_statement, profile

LEDE = ("NEW YORK — Korea's science ministry and BlackRock signed a memorandum of understanding on AI, "
        "after President Lee Jae Myung sat down with BlackRock chief executive Larry Fink in New York on Monday, Sept. 22.")
JOINED = ("Fink, who also chairs the World Economic Forum, was joined at the meeting by Adebayo Ogunlesi, "
          "the chairman of Global Infrastructure Partners, and by Jim Yong Kim, a former president of the World Bank Group.")
SIGNED = "The memorandum was signed by Science and ICT Minister Bae Kyung-hoon and Fink while Lee looked on."
WELCOMED = "Lee welcomed the chance to work together and invited Fink to visit Korea, the presidential office said."
OPEN = "The memorandum did not put a figure on how much BlackRock will invest."


def _passage(n: int, *sentences: str, article: str = "") -> Passage:
    text = " ".join(sentences)
    article = article or f"a{n}"
    return Passage(n=n, chunk_id=f"{article}:{n}", article_id=article, title="Korea and BlackRock sign AI pact",
                   text=text, start=0, end=len(text), score=1.0, sentences=sentences_of(text, 0))


@pytest.fixture(scope="module")
def checker(embedder):
    return CitationChecker(embedder)


def _check(checker, embedder, question: str, claim: str, *passages: Passage):
    q = profile(question)
    evidence = rank_evidence(q, list(passages), checker.sentence_vectors(list(passages)), embedder.embed_query(question))
    return checker.check(claim, q, evidence)[0]


def test_invented_role_next_to_a_real_name_is_rejected(checker, embedder):
    checked = _check(checker, embedder, "Who attended the meeting?",
                     "Lee Jae Myung, the president of Korea's central bank, attended the meeting [1].",
                     _passage(1, LEDE, JOINED))
    assert not checked.supported


def test_bare_name_list_cannot_borrow_support_from_a_sentence_about_something_else(checker, embedder):
    checked = _check(checker, embedder, "Who signed the MOU?", "Lee Jae Myung and Larry Fink [1].",
                     _passage(1, WELCOMED))
    assert not checked.supported
    # The same names, from the sentence that says who signed, pass.
    good = _check(checker, embedder, "Who signed the MOU?", "Bae Kyung-hoon and Fink signed it [1].",
                  _passage(1, WELCOMED, SIGNED))
    assert good.supported and [s.text for s in good.sources] == [SIGNED]


def test_number_or_date_absent_from_the_quote_is_rejected(checker, embedder):
    passage = _passage(1, LEDE)
    assert _check(checker, embedder, "When did Lee meet Fink?", "Lee met Fink on Monday, Sept. 22 [1].", passage).supported
    assert not _check(checker, embedder, "When did Lee meet Fink?", "Lee met Fink on Monday, Sept. 23 [1].", passage).supported
    assert not _check(checker, embedder, "When did Lee meet Fink?", "Lee met Fink in 2024 [1].", passage).supported


def test_tautology_is_not_an_answer(checker, embedder):
    checked = _check(checker, embedder, "Who attended the meeting between President Lee Jae Myung and Larry Fink?",
                     "President Lee Jae Myung and Larry Fink attended the meeting [1].", _passage(1, LEDE, JOINED))
    assert not checked.supported


def test_list_claim_may_join_two_sentences(checker, embedder):
    checked = _check(checker, embedder, "Who attended the meeting?",
                     "Lee Jae Myung, Larry Fink, Adebayo Ogunlesi and Jim Yong Kim attended.",
                     _passage(1, LEDE, JOINED))
    assert checked.supported and len(checked.sources) == 2


def test_open_statement_answers_how_much():
    q = profile("How much will BlackRock invest in Korea?")
    assert q.kind == "how_much" and "invest" in q.predicate
    assert is_open_statement(OPEN) and adds_answer(q, OPEN)
    assert not adds_answer(q, WELCOMED)


def test_evidence_ranks_the_sentence_that_states_the_predicate_first(checker, embedder):
    q = profile("Who signed the MOU?")
    # Two chunks of one story: the first says what the MOU is, the second who signed it.
    passages = [_passage(1, WELCOMED, LEDE, article="mou"), _passage(2, SIGNED, article="mou")]
    ranked = rank_evidence(q, passages, checker.sentence_vectors(passages), embedder.embed_query(q.text))
    answering = [e.text for e in ranked if e.answers]
    assert answering[0] == SIGNED and WELCOMED not in answering


def test_a_question_in_the_text_never_answers(checker, embedder):
    question = "How many jobs will Corvane Motors cut at its Ellery plant?"
    asked = "How many of its 4,000 jobs will Corvane Motors cut at its Ellery plant?"
    passages = [_passage(1, asked, article="plant")]
    ranked = rank_evidence(profile(question), passages, checker.sentence_vectors(passages),
                           embedder.embed_query(question))
    assert not any(e.answers for e in ranked)


def test_dotted_acronyms_and_weekdays_do_not_block_the_topic():
    from qa_service.support import SourceTerms, stem

    assert stem("U.S.") == "US" and SourceTerms(["a U.S. ban on the dye"]).has("US")
    # A weekday dates a question; it is not a name the story must repeat.
    assert profile("Israel and Hamas agreed to a truce on Wednesday in which territory?").entities == (("hama",),)


def test_where_was_born_hinges_on_born():
    assert profile("Where was the Norland finance minister born?").required == {"born"}
    assert profile("When was the harbour treaty signed?").required == {"sign"}
    # Not a passive: the closing noun is not a word the answer must repeat.
    assert profile("When is the Ostmark council's next vote after its June meeting?").required == frozenset()


def test_a_date_in_the_question_is_stated_only_by_that_month_and_day():
    from qa_service.questions import topic_coverage
    from qa_service.support import SourceTerms

    q = profile("What did the central bank decide at its Nov. 27 rate meeting?")
    other_day = SourceTerms(["The central bank held its rate on Thursday, Oct. 23, as 27 economists expected."])
    that_day = SourceTerms(["On November 27 the central bank cut its rate."])
    assert topic_coverage(q, other_day) < topic_coverage(q, that_day) == 1.0


def test_a_dateline_is_not_a_name_the_answer_gives():
    q = profile("Which company will build the power line?")
    assert not adds_answer(q, "SEJONG — The government on Wednesday approved a plan for the power line.")
    assert adds_answer(q, "SEJONG — Korea Electric Power will build the power line, the ministry said.")
