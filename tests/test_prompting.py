"""The judge's prompt: template slots, few-shot examples, passage layout, stop sequences (no model)."""
from __future__ import annotations

import re

import pytest

from qa_service.models import Passage
from qa_service.prompting import STOP, PromptBuilder, format_passages, load_template
from qa_service.readable import sentences_of


def _passage(n: int, title: str, date: str | None, text: str) -> Passage:
    return Passage(n=n, chunk_id=f"c{n}", article_id=f"a{n}", title=title, published_at=date,
                   text=text, start=0, end=len(text), score=0.5, sentences=sentences_of(text, 0))


PASSAGES = [
    _passage(1, "Tram line opens in Dorval", "2025-04-02T08:00:00", "The Dorval tram carried 8,000 riders on day one."),
    _passage(2, "Budget {draft} leaked", "2025-03-30", "The memo set costs at {x: 12} million, officials said."),
]


def test_packaged_template_has_both_slots() -> None:
    template = load_template("answer.txt")
    assert "{passages}" in template and "{question}" in template
    assert template.rstrip().endswith("Question: {question}\nAnswer:")


def test_the_examples_answer_with_a_short_span_of_their_passage() -> None:
    """The model judges candidate answers after this prefix: its examples answer as the service
    does, with a few words copied from the passage, in the layout the candidates are shown in."""
    prefix = PromptBuilder(load_template("answer.txt")).prefix
    examples = prefix.strip().split("\n\n")[1:]  # after the one-line instruction
    assert len(examples) >= 3
    for example in examples:
        title, passage, question, answer = example.splitlines()
        assert re.fullmatch(r"\[1\] .+ \(\d{4}-\d{2}-\d{2}\)", title), title
        assert question.startswith("Question: ") and question.endswith("?")
        span = answer.removeprefix("Answer: ")
        assert answer.startswith("Answer: ") and span in passage, example
        assert len(span.split()) <= 6, span


def test_template_without_slots_is_rejected() -> None:
    with pytest.raises(ValueError):
        PromptBuilder("Question: {question}\nAnswer:")


def test_build_lists_every_passage_and_ends_with_the_question() -> None:
    builder = PromptBuilder(load_template("answer.txt"))
    prompt = builder.build("How many  riders\n rode the tram?", PASSAGES)
    assert prompt.startswith(builder.prefix) and "{passages}" not in builder.prefix
    for p in PASSAGES:
        assert f"[{p.n}]" in prompt
        assert p.title in prompt
    assert "2025-04-02" in prompt and "T08:00" not in prompt
    assert "2025-03-30" in prompt
    # The question is the last thing before the answer slot, with whitespace collapsed.
    assert prompt.endswith("Question: How many riders rode the tram?\nAnswer:")


def test_braces_in_passage_text_survive() -> None:
    prompt = PromptBuilder(load_template("answer.txt")).build("What did the memo say?", PASSAGES)
    assert "Budget {draft} leaked" in prompt
    assert "{x: 12} million" in prompt


def test_format_passages_numbers_in_order() -> None:
    text = format_passages(PASSAGES)
    assert text.index("[1]") < text.index("[2]")
    assert "8,000 riders" in text


def test_stop_sequences_end_the_answer_line() -> None:
    assert STOP
    assert "\n" in STOP


def test_passages_with_nothing_to_show_are_left_out() -> None:
    text = format_passages(PASSAGES, [["The Dorval tram carried 8,000 riders on day one."], []])
    assert "[1]" in text and "[2]" not in text
