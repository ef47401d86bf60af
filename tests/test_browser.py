"""The web page in a real browser (Debian's chromium driven by playwright) against a
real uvicorn, the real models and a real Chroma index of its own: a few demo
articles plus what the tests upload through the page.

A journalist's session (upload, ask, follow a citation into the article, delete,
ask again), a keyboard-only question with a date filter stopped with Escape, and
a server with an API key (asked once, sent in a header; an abstention said once;
uploads with the file input, errors without setting names; markup in articles
shown as text; nothing wider than a phone).

Few questions, since answers on 2 shared cores take seconds each: most
assertions ride on the same ask. The model runs on one thread (QA_LLM_THREADS=1),
which also leaves time to press Escape while it reads.
"""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from qa_service.api.app import create_app
from qa_service.services import Services
from qa_service.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                                     "(apt-get install chromium, or `make browser`)"),
]

# Four demo articles, published 2025-09-23, 10-02, 10-07 and 10-13; the tests upload one of 10-20.
CORPUS = {
    "Nimbara Cloud to build 5.6 billion ringgit hyperscale AI data centre in Johor",
    "Korea and BlackRock sign AI partnership pact as Lee meets Fink in New York",
    "Kenyan Kiprono breaks course record at Busan Harbour Marathon",
    "Aurora Seven to kick off 32-show world tour in Seoul in February",
}
PAYLOAD = "<script>window.__pwned = 1</script>"
# Notes without a headline, under a file name that is markup too: the title becomes
# the first sentence and the file name the source, both shown as text only.
NOTES_NAME = "<img src=x onerror=window.__pwned=1>.txt"
NOTES = ("The Mirefield Glass Museum opened a gallery of message bottles on Sunday. Curator Oona Vale said one "
         f"bottle held a note that read {PAYLOAD} and nothing else.\n\n"
         "The gallery shows 48 bottles found on the Mirefield coast since 1950.\n")
NOTES_TITLE = "The Mirefield Glass Museum opened a gallery of message bottles on Sunday."
FERRY_NAME = "pine-island-ferry.md"
FERRY = ("---\ntitle: Harbour city opens a ferry line to Pine Island\nsource: Coast Courier\ndate: 2025-10-20\n---\n\n"
         "The city council opened a ferry line to Pine Island on Friday. Mayor Ana Ruiz rode the first crossing, "
         "which took 25 minutes.\n\nThe boats will run every hour from 6 a.m. until midnight, the council said.\n")
FERRY_TITLE = "Harbour city opens a ferry line to Pine Island"
# Only the ferry story answers it; without that story nothing does. (Naming "Pine Island", which
# only the sentence before the answer states, makes the reader abstain today: reported.)
FERRY_QUESTION = "Who rode the first ferry crossing?"
NIMBARA_QUESTION = "Where will Nimbara Cloud build its AI data centre?"
MIREFIELD_QUESTION = "What did the note in the bottle at the Mirefield Glass Museum read?"
# Matches nothing in the corpus, so it abstains without running the model.
NONSENSE = "zqxv wplk frobnitz quux?"
KEY = "page-key-51c2"

FINISHED = "body[data-state=answered], body[data-state=abstained], body[data-state=error]"
ANSWER_TIMEOUT_MS = 300_000  # answers on 2 shared cores can take a while
# Records each state of the page with the number of passage cards shown at that moment. A state
# set and replaced within one task is never painted, and never recorded either: "reading" is in
# the record only if the passages were on screen before the first token.
WATCH_STATES = """() => {
  window.__states = [];
  new MutationObserver(() => window.__states.push(
    [document.body.dataset.state, document.querySelectorAll("#passages .passage-card").length]))
    .observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
}"""
DROP_FILES = """(files) => {
  const dt = new DataTransfer();
  for (const [name, text] of files) dt.items.add(new File([text], name, { type: "text/plain" }));
  document.getElementById("drop-zone").dispatchEvent(
    new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
}"""


@pytest.fixture(scope="module")
def services(tmp_path_factory, embedder, demo_articles) -> Services:
    """A small index of this module's own, and a language model on one thread."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("page-index"), llm_threads=1)
    built = Services(settings, embedder=embedder)
    built.ingestor.ingest([a for a in demo_articles if a.title in CORPUS])
    return built


@pytest.fixture(scope="module")
def server(services, api_uvicorn) -> str:
    return api_uvicorn(create_app(services.settings, services))


@pytest.fixture(scope="module")
def browser():
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
    page.wait_for_selector("#article-count:not(:empty)")
    return page


def ask(page, question: str) -> str:
    """Asks through the page; returns its final state."""
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_selector(FINISHED, timeout=ANSWER_TIMEOUT_MS)
    return page.get_attribute("body", "data-state")


def count(page) -> str:
    return page.text_content("#article-count")


def test_upload_ask_follow_a_citation_delete_and_it_is_cited_no_more(page, server):
    # Upload two files by drag and drop: each gets its result by name, and both are listed.
    assert page.get_attribute("#question", "maxlength") == "1000"
    assert count(page) == f"({len(CORPUS)})"
    page.click("#nav-articles")
    page.evaluate(DROP_FILES, [[NOTES_NAME, NOTES], [FERRY_NAME, FERRY]])
    for name, title in ((NOTES_NAME, NOTES_TITLE), (FERRY_NAME, FERRY_TITLE)):
        result = page.locator("#upload-results > li.ok", has_text=name)
        result.wait_for()
        assert f"{name} — added: {title}" in result.inner_text()
    rows = page.locator("#article-rows tr")
    expect(rows).to_have_count(len(CORPUS) + 2)
    assert rows.nth(0).inner_text().split("\t")[:3] == [FERRY_TITLE, "Coast Courier", "2025-10-20"]
    assert rows.nth(len(CORPUS) + 1).inner_text().split("\t")[:3] == [NOTES_TITLE, NOTES_NAME, "undated"]
    assert count(page) == f"({len(CORPUS) + 2})"
    page.fill("#title-search", "ferry")
    expect(rows).to_have_count(1)
    assert "1 article with “ferry” in the title" in page.inner_text("#articles-status")

    # Markup in an uploaded article and its file name is text: shown, never run.
    page.fill("#title-search", "Mirefield")
    expect(rows.first).to_contain_text(NOTES_TITLE)
    expect(rows).to_have_count(1)
    page.click("#article-rows a")
    page.wait_for_selector("#article-body:has-text('Curator Oona Vale')")
    assert PAYLOAD in page.inner_text("#article-body") and NOTES_NAME in page.inner_text("#article-meta")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script, main img").count() == 0

    # Ask: the passages show before the first token, then the answer replaces the draft.
    page.click("#nav-ask")
    page.evaluate(WATCH_STATES)
    assert ask(page, FERRY_QUESTION) == "answered", page.inner_text("#error")
    states = page.evaluate("window.__states")
    names = [state for state, _ in states]
    assert names[0] == "searching" and names[-1] == "answered", states
    assert names.index("reading") < names.index("writing"), states
    assert all(cards > 0 for state, cards in states if state in {"reading", "writing"}), states
    assert page.locator("#answer .draft").count() == 0
    assert page.inner_text("#answer .answer-text").startswith("Mayor Ana Ruiz")  # the short answer

    # Tab reaches the citations; Enter on one puts the reader on its quote, highlighted in its passage.
    page.focus("#question")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('#answer button.cite')"):
            break
    else:
        pytest.fail("Tab never reached a citation")
    n = page.evaluate("document.activeElement.dataset.n")
    page.keyboard.press("Enter")
    quote = page.locator(f"mark#quote-{n}")
    assert page.evaluate("document.activeElement.id") == f"quote-{n}"
    assert "active" in quote.get_attribute("class") and quote.is_visible()
    card = page.locator("#passages .passage-card", has=quote)
    assert FERRY_TITLE in card.locator("summary").inner_text()
    quoted = quote.text_content()
    page.click("#nav-articles")
    page.click("#nav-ask")  # back on the answer, a click on the marker does the same
    page.click(f'#answer button.cite[data-n="{n}"]')
    assert page.evaluate("document.activeElement.id") == f"quote-{n}"

    # ...and its link opens the article at the quote, marked where body[start:end] says.
    card.locator(f'a.quote-link[data-n="{n}"]').click()
    mark = page.locator("#article-body mark")
    mark.wait_for()
    assert page.text_content("#article-title") == FERRY_TITLE
    assert mark.text_content() == quoted
    article_id, span = page.evaluate("location.hash").split("/")[2:]
    start, end = map(int, span.split("-"))
    assert httpx.get(f"{server}/v1/articles/{article_id}").json()["body"][start:end] == quoted

    # Delete it, after a confirmation that Escape cancels.
    page.click("#delete")
    assert page.is_visible("#confirm-delete") and page.evaluate("document.activeElement.id") == "confirm-no"
    page.keyboard.press("Escape")
    assert page.is_hidden("#confirm-delete")
    page.click("#delete")
    assert FERRY_TITLE in page.inner_text("#confirm-text")
    page.click("#confirm-yes")
    page.wait_for_selector(f"#articles-status:has-text('Deleted “{FERRY_TITLE}”')")
    page.fill("#title-search", "")
    expect(rows).to_have_count(len(CORPUS) + 1)
    assert FERRY_TITLE not in page.inner_text("#article-rows")
    expect(page.locator("#article-count")).to_have_text(f"({len(CORPUS) + 1})")
    assert httpx.get(f"{server}/v1/articles/{article_id}").status_code == 404

    # The answer on screen says its story is gone; asked again, the question finds nothing of
    # the deleted story and says so once.
    page.click("#nav-ask")
    assert f"“{FERRY_TITLE}”, which this answer draws on, has since been deleted." in page.inner_text("#answer")
    assert ask(page, FERRY_QUESTION) == "abstained"
    assert page.locator(f'#passages .passage-card[data-article="{article_id}"]').count() == 0
    assert page.inner_text("#view-ask").count("do not answer") == 1
    assert page.text_content("#passages-heading") == "Nearest passages"


def test_keyboard_only_ask_with_a_date_filter_then_escape_stops(page):
    page.evaluate("location.hash = '#/ask'")
    page.reload()  # a fresh page: nothing left of the first test's question
    page.click("#filters summary")
    page.fill("#published-after", "2025-10-05")
    page.fill("#published-before", "2025-10-31")
    assert page.text_content("#filter-summary") == "(1 set)"

    for _ in range(10):  # from the last date field, back to the question
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.id") == "question":
            break
    else:
        pytest.fail("Shift+Tab never reached the question")
    page.keyboard.type(NIMBARA_QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_selector(f"body[data-state=reading], body[data-state=writing], {FINISHED}",
                           timeout=ANSWER_TIMEOUT_MS)
    assert page.get_attribute("body", "data-state") in {"reading", "writing"}, page.inner_text("#status")
    dates = page.locator("#passages .passage-card summary .hint").all_text_contents()
    page.keyboard.press("Escape")
    page.wait_for_selector("body[data-state=stopped]", timeout=60_000)

    # Only passages published inside the range: the demo stories of September are left out.
    assert dates and all("2025-10-05" <= d.removeprefix("— ") <= "2025-10-31" for d in dates), dates
    assert page.text_content("#status") == "Stopped."
    assert page.is_enabled("#ask") and page.is_disabled("#stop")
    page.click("#clear-filters")


def test_a_key_is_asked_once_errors_name_no_setting_and_a_phone_fits(services, api_uvicorn, browser, tmp_path):
    settings = services.settings.model_copy(update={"api_key": KEY, "max_question_chars": 300,
                                                    "max_article_chars": 2_000})
    server = api_uvicorn(create_app(settings, services))
    page = browser.new_page(viewport={"width": 390, "height": 844})
    sent = []
    page.on("request", lambda request: sent.append((request.url, request.headers.get("authorization"))))
    page.goto(server)  # the page itself needs no key: a browser cannot send one with a navigation

    # The page's first API call meets the 401: the key is asked for before anything else.
    page.wait_for_selector("#key-form:not([hidden])")
    page.fill("#api-key", "wrong-key")
    page.press("#api-key", "Enter")
    page.wait_for_selector("#key-hint:has-text('refused')")
    page.fill("#api-key", KEY)
    page.press("#api-key", "Enter")
    page.wait_for_selector("#article-count:not(:empty)")
    assert page.is_hidden("#key-form")
    assert page.get_attribute("#question", "maxlength") == "300"

    assert ask(page, NONSENSE) == "abstained", page.inner_text("#error")
    assert page.inner_text("#answer").count("do not answer") == 1

    # Files chosen with the file input, each with its own result: the notes (added, or unchanged
    # when the first test uploaded them) and a story over the size limit, refused in words.
    notes, big = tmp_path / NOTES_NAME, tmp_path / "long-story.txt"
    notes.write_text(NOTES)
    big.write_text("Long story\n\n" + "The council met again on Monday to talk about the harbour. " * 60)
    page.click("#nav-articles")
    page.set_input_files("#files", [str(notes), str(big)])
    failed = page.locator("#upload-results > li.failed")
    failed.wait_for()
    assert "long-story.txt — not indexed" in failed.inner_text() and "the limit is 2,000" in failed.inner_text()
    assert "QA_" not in failed.inner_text()
    assert NOTES_TITLE in page.locator("#upload-results > li.ok", has_text=NOTES_NAME).inner_text()

    # Asked again, the key is not asked for again; markup quoted from the notes stays text.
    page.click("#nav-ask")
    assert ask(page, MIREFIELD_QUESTION) in {"answered", "abstained"}, page.inner_text("#error")
    assert page.is_hidden("#key-form")
    assert PAYLOAD in page.text_content("#view-ask")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script, main img").count() == 0

    # Nothing is wider than the phone, in either view, filled.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#nav-articles")
    expect(page.locator("#articles-status")).to_contain_text("newest first")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    assert page.evaluate("sessionStorage.getItem('qa-service.api-key')") == KEY
    api_calls = [(url, auth) for url, auth in sent if "/v1/" in url]
    refused = [auth for url, auth in api_calls if auth != f"Bearer {KEY}"]
    assert set(refused) == {None, "Bearer wrong-key"}
    assert any(url.endswith("/v1/ask") and auth == f"Bearer {KEY}" for url, auth in api_calls)
    assert not any(KEY in url for url, _ in sent) and KEY not in page.url
