"""The web page in a real browser (Debian's chromium driven by playwright) against a
real uvicorn: ask, wait for the streamed answer, open a citation; article text
with markup is shown as text and never runs; on a server with an API key the
page asks for the key once and sends it in a header, never in a URL.

Set QA_PAGE_SCREENSHOT=docs/page.png to save the screenshot used in the docs.
"""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from qa_service.api.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium, or `make browser`)"),
]

# A demo-corpus question the small default model answers by quoting its source.
QUESTION = "Where will Nimbara Cloud build its AI data centre?"
PAYLOAD = "<script>window.__pwned = 1</script>"
SCRIPTED = {
    "title": "Mirefield glass museum opens a gallery of message bottles",
    "body": (
        "The Mirefield Glass Museum opened a gallery of message bottles on Sunday. Curator Oona Vale "
        f"said one bottle held a note that read {PAYLOAD} and nothing else.\n\n"
        "The gallery shows 48 bottles found on the Mirefield coast since 1950."
    ),
    "source": "example-news",
    "published_at": "2025-09-21",
}
SCRIPTED_QUESTION = "What did the note in the bottle at the Mirefield Glass Museum read?"
FINISHED = "body[data-state=answered], body[data-state=abstained], body[data-state=error]"
# Answers on 2 shared cores can take a while.
ANSWER_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def server(api_services, api_uvicorn) -> str:
    return api_uvicorn(create_app(api_services.settings, api_services))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run",
        ])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(server, browser):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(server)
    return page


def ask(page, question: str) -> str:
    """Asks through the page; returns its final state."""
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_selector(FINISHED, timeout=ANSWER_TIMEOUT_MS)
    return page.get_attribute("body", "data-state")


def test_a_streamed_answer_opens_its_cited_sentence(page, demo_articles):
    assert ask(page, QUESTION) == "answered", page.inner_text("#error")
    page.click('button.cite[data-n="1"]')
    mark = page.locator("#source-panel mark")
    mark.wait_for(state="visible")
    # The sources list shows each citation's quote as the answer JSON gave it.
    quote = page.locator('#sources li:has(button.cite[data-n="1"]) blockquote').text_content()
    assert mark.text_content() == quote
    assert any(quote in article.body for article in demo_articles)
    if os.environ.get("QA_PAGE_SCREENSHOT"):
        page.screenshot(path=os.environ["QA_PAGE_SCREENSHOT"], full_page=True)


def test_article_markup_is_shown_as_text_and_never_run(page, server):
    added = httpx.post(f"{server}/v1/articles", json=SCRIPTED, timeout=600).json()
    (article_id,) = added["article_ids"]
    try:
        state = ask(page, SCRIPTED_QUESTION)
        assert state in {"answered", "abstained"}, page.inner_text("#error")
        if state == "answered":  # the whole passage is shown once a citation is opened
            page.click("button.cite[data-n]")
            page.locator("#source-panel mark").wait_for(state="visible")
        assert PAYLOAD in page.inner_text("main")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("main script").count() == 0
    finally:
        httpx.delete(f"{server}/v1/articles/{article_id}", timeout=600)


# Matches nothing in the demo corpus, so it abstains without running the model.
NONSENSE = "zqxv wplk frobnitz quux?"
KEY = "page-key-51c2"


def test_the_page_asks_for_the_key_once_and_sends_it_in_a_header(api_services, api_uvicorn, browser):
    server = api_uvicorn(create_app(api_services.settings.model_copy(update={"api_key": KEY}), api_services))
    page = browser.new_page()
    sent = []
    page.on("request", lambda request: sent.append((request.url, request.headers.get("authorization"))))
    page.goto(server)  # the page itself needs no key: a browser cannot send one with a navigation

    page.fill("#question", NONSENSE)
    page.click("#ask")
    page.wait_for_selector("body[data-state=key]")
    assert page.is_visible("#key-form")
    page.fill("#api-key", "wrong-key")
    page.click("#use-key")
    page.wait_for_selector("body[data-state=key]")
    assert "refused" in page.inner_text("#status")
    page.fill("#api-key", KEY)
    page.click("#use-key")
    page.wait_for_selector(FINISHED)
    assert page.get_attribute("body", "data-state") == "abstained", page.inner_text("#error")
    assert page.is_hidden("#key-form")

    assert ask(page, NONSENSE) == "abstained"  # asked once: the tab keeps it
    assert page.is_hidden("#key-form")
    assert page.evaluate("sessionStorage.getItem('qa-service.api-key')") == KEY
    asks = [auth for url, auth in sent if url.endswith("/v1/ask")]
    assert asks == [None, "Bearer wrong-key", f"Bearer {KEY}", f"Bearer {KEY}"]
    assert not any(KEY in url for url, _ in sent) and KEY not in page.url
