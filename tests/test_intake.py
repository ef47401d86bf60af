"""What an article must be to be stored, and what a request may carry, checked without models:
the identity rule, links, field limits, control characters, text fit to index, the bounded
sentence analysis, the request schemas' strict dates and chat fields, and the access log."""
from __future__ import annotations

import logging
import random
import re
import time

import pytest
from pydantic import ValidationError

from index.analysis import AnalysisTimeout
from index.article import Article, article_id_for, canonical_url
from index.pipeline import unfit
from index.sentences import _pieces, sentence_spans
from qa_service.api.access_log import redact_access_log
from qa_service.api.schemas import ArticleIn, AskRequest, ChatRequest, SearchRequest
from qa_service.intake import refusal, screen, url_problem
from qa_service.settings import Settings

STORY = "https://news.example.com/story"


@pytest.mark.parametrize("url, canonical", [
    (f"{STORY}?id=1", f"{STORY}?id=1"),
    ("https://NEWS.example.com/story/?id=2#comments", f"{STORY}?id=2"),
    (f"{STORY}?utm_source=x&id=2&fbclid=abc&gclid=1", f"{STORY}?id=2"),
    (f"{STORY}?UTM_Medium=social", STORY),
    (f"{STORY}?section=world&id=7", f"{STORY}?id=7&section=world"),
    (f"{STORY}?id=7&section=world&mc_cid=9", f"{STORY}?id=7&section=world"),
])
def test_the_identity_keeps_the_query_but_tracking_parameters(url, canonical):
    assert canonical_url(url) == canonical


def test_stories_told_apart_by_their_query_are_two_articles():
    first, second = (article_id_for(f"{STORY}?id={n}", "example", "Same title", None) for n in (1, 2))
    assert first != second
    assert article_id_for(f"{STORY}?id=1&utm_campaign=spring", "other", "Other title", None) == first


@pytest.mark.parametrize("url, problem", [
    ("https://exa mple.com/", "invalid host"),
    ("https://example.com:99999/", "not a valid URL"),
    ("https://example.com:0/", "port 0"),
    ("https://example..com/", "invalid host"),
    ("https://user:secret@example.com/", "user name"),
    ("https://[::1/", "not a valid URL"),
    ("https://[zz::1]/", "not a valid URL"),
    ("javascript:alert(1)", "http:// or https://"),
    ("https:///path", "http:// or https://"),
])
def test_links_with_a_bad_host_or_port_are_refused(url, problem):
    assert problem in (url_problem(url) or "")


@pytest.mark.parametrize("url", ["https://news.example.com/a?id=1", "http://localhost:8080/x",
                                 "https://[2001:db8::1]:443/", "https://bücher.example/", "https://example.com./"])
def test_good_links_pass(url):
    assert url_problem(url) is None


LIMITS = Settings().http


def _article(**fields) -> Article:
    return Article.create(**{"title": "Ferry line opens", "body": "The ferry sailed on Friday.", **fields})


@pytest.mark.parametrize("field, value, setting", [
    ("title", "T" * (LIMITS.max_title_chars + 1), "QA_MAX_TITLE_CHARS"),
    ("source", "s" * (LIMITS.max_source_chars + 1), "QA_MAX_SOURCE_CHARS"),
    ("url", "https://example.com/" + "a" * LIMITS.max_url_chars, "QA_MAX_URL_CHARS"),
    ("authors", ["Ann Lee", "B" * LIMITS.max_authors_chars], "QA_MAX_AUTHORS_CHARS"),
    ("captions", ["c" * (LIMITS.max_captions_chars // 2 + 1)] * 2, "QA_MAX_CAPTIONS_CHARS"),
    ("body", "word " * (LIMITS.max_article_chars // 5 + 1), "QA_MAX_ARTICLE_CHARS"),
])
def test_every_field_has_a_size_limit_naming_it(field, value, setting):
    refused = refusal(_article(**{field: value}), LIMITS)
    assert refused and (refused.field, refused.status) == (field, 413)
    assert setting in refused.reason and f"the {field}" in refused.reason


@pytest.mark.parametrize("field, value", [("title", "Ferry\x00line"), ("source", "wire\x1b[31m"),
                                          ("authors", ["Ann\x00Lee"]), ("captions", ["A \x07bell"])])
def test_control_characters_are_refused_in_every_field_but_the_body(field, value):
    refused = refusal(_article(**{field: value}), LIMITS)
    assert refused and (refused.field, refused.status) == (field, 422) and "control character" in refused.reason
    assert refusal(_article(body="Tabs\tand\nlines\r\nare text."), LIMITS) is None
    assert refusal(_article(body="A NUL \x00 here."), LIMITS).reason == "the body holds a NUL character"


def test_screen_moves_refused_articles_to_failures_and_warns_of_dropped_links():
    from index.loaders import LoadResult

    loaded = LoadResult([_article(title="T" * 600), _article(url="javascript:void(0)"), _article(title="Fine")])
    kept, warnings = screen(loaded, LIMITS)
    assert [a.title for a in kept.articles] == ["Ferry line opens", "Fine"]
    assert kept.articles[0].url is None and "javascript" in warnings[0].reason
    assert [f.reason.split(";")[0] for f in kept.failures] == ["the title is 600 characters"]


@pytest.mark.parametrize("body, fit", [
    ("!?." * 2000, False), ("a" + "?!" * 5000, False), ("— … — …", False),
    ("The ferry sailed at 6 a.m. (local time) — on schedule!", True),
    ("北京市政府今天宣布新的交通计划。", True), ("a. " * 3000, True), ("Scores: 3-1 (2-0), 1-1.", True),
])
def test_a_body_must_be_text_to_be_indexed(body, fit):
    assert (unfit(body) is None) == fit


def _worst(n: int) -> str:
    """Long words of letters and punctuation: spaCy's tokenizer costs the square of a word's length.
    A new text each time: the tokenizer remembers the words it has cut."""
    rng = random.Random()
    return "".join(rng.choice("abcdefghij") + rng.choice("!?.,;:()[]{}'\"“”«»<>") for _ in range(n // 2))


@pytest.mark.parametrize("text", [_worst(20_000), "!?." * 5000, "a " + "x" * 5000 + " b", "中文" * 3000])
def test_spacy_is_handed_no_long_word(text):
    for start, end in _pieces(text):
        piece = text[start:end]
        assert max(map(len, piece.split()), default=0) <= 200
        assert max(map(len, re.findall(r"[^\w\s]+", piece)), default=0) <= 64
    assert "".join(text[a:b] for a, b in _pieces(text)) == text


def test_the_analysis_stops_at_its_deadline():
    text = _worst(200_000)
    sentence_spans("The pipeline loads first.")
    started = time.monotonic()
    with pytest.raises(AnalysisTimeout):
        sentence_spans(text, deadline=started + 0.2)
    # The overrun is one piece at most (a few milliseconds); 2 s is a generous margin.
    assert time.monotonic() - started < 0.2 + 2.0


def test_dates_are_written_yyyy_mm_dd_only():
    assert str(AskRequest(question="Who?", as_of="2025-09-23").as_of) == "2025-09-23"
    for bad in ({"as_of": 0}, {"as_of": 1758585600}, {"as_of": "2025-09-23T00:00:00"}, {"as_of": "23/09/2025"},
                {"filters": {"published_after": 0}}, {"filters": {"published_before": 1.5}}):
        with pytest.raises(ValidationError, match="YYYY-MM-DD"):
            AskRequest.model_validate({"question": "Who?", **bad})
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        SearchRequest.model_validate({"query": "ferry", "filters": {"published_after": 0}})


@pytest.mark.parametrize("extra, where", [
    ({"user": "a\ud800"}, ("user",)),
    ({"metadata": {"tag": ["x", "\udfff"]}}, ("metadata",)),
    ({"messages": [{"role": "user", "content": "Who?", "name": "bot\ud800"}]}, ("messages", 0, "name")),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Who?", "x": "\ud800"}]}]},
     ("messages", 0, "content")),
    ({"stream_options": {"include_usage": False, "other": "\ud800"}}, ("stream_options", "other")),
    ({"\ud800": 1}, ()),
])
def test_fields_openai_clients_add_hold_no_lone_surrogate(extra, where):
    with pytest.raises(ValidationError) as error:
        ChatRequest.model_validate({"messages": [{"role": "user", "content": "Who?"}], **extra})
    assert error.value.errors()[0]["loc"] == where
    ok = ChatRequest.model_validate({"messages": [{"role": "user", "content": "Who?", "name": "ann"}],
                                     "user": "u-1", "metadata": {"a": [1, "b"]}})
    assert ok.model_extra == {"user": "u-1", "metadata": {"a": [1, "b"]}}


def test_article_fields_hold_no_control_character():
    for field, value in (("title", "a\x00b"), ("source", "\x00"), ("authors", ["x\x00"]), ("url", "https://a.b/\x00")):
        with pytest.raises(ValidationError, match="control character"):
            ArticleIn.model_validate({"title": "T", "body": "Text.", field: value})
    with pytest.raises(ValidationError, match="NUL"):
        ArticleIn.model_validate({"title": "T", "body": "Te\x00xt."})


def test_keys_in_query_strings_stay_out_of_the_access_log(caplog):
    redact_access_log("s3cret key/9")
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for path in ("/v1/articles?api_key=abc123&limit=5", "/v1/ask?token=t0k3n", "/x?q=s3cret+key%2F9",
                     "/x?access_token=zzz", "/x?limit=s3cret%20key%2F9"):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    logged = [record.getMessage() for record in caplog.records]
    assert not any(secret in line for line in logged for secret in ("abc123", "t0k3n", "zzz", "s3cret"))
    assert "limit=5" in logged[0] and sum(line.count("REDACTED") for line in logged) == 5
