"""What the web page's Articles view and source filter read from the API:
GET /v1/articles with a title search and newest-first order, GET /v1/sources,
and the page itself, served only from / with the server's question length limit.
"""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa_service.api.app import create_app
from qa_service.services import Services
from qa_service.settings import Settings

pytestmark = pytest.mark.slow  # the app's start-up loads the language model

ARTICLES = [
    {"title": "Ferry line to Pine Island opens", "body": "The ferry line opened on Friday.", "source": "Coast Courier",
     "published_at": "2025-10-20"},
    {"title": "Harbour ferry fares rise", "body": "Fares rise by 200 won in November.", "source": "Coast Courier",
     "published_at": "2025-10-02"},
    {"title": "Night market returns", "body": "The night market reopened after the floods.", "source": "City Desk",
     "published_at": "2025-10-02"},
    {"title": "Undated ferry timetable note", "body": "Timetables are posted at the pier.", "source": "local"},
    {"title": "Museum opens a bottle gallery", "body": "The gallery shows 48 bottles.", "source": "City Desk",
     "published_at": "2025-09-28"},
]
KEY = "listing-key-7f3a"


@pytest.fixture(scope="module")
def services(tmp_path_factory, embedder, generator) -> Services:
    return Services(Settings(data_dir=tmp_path_factory.mktemp("listing-index")), embedder=embedder,
                          generator=generator)


@pytest.fixture(scope="module")
def client(services):
    with TestClient(create_app(services.settings.model_copy(update={"max_question_chars": 321}), services)) as c:
        assert c.post("/v1/articles", json=ARTICLES).json()["added"] == len(ARTICLES)
        yield c


def titles(page: dict) -> list[str]:
    return [a["title"] for a in page["articles"]]


def test_newest_first_in_pages_with_undated_last(client):
    first = client.get("/v1/articles", params={"sort": "newest", "limit": 3}).json()
    rest = client.get("/v1/articles", params={"sort": "newest", "offset": 3, "limit": 3}).json()
    assert (first["total"], first["offset"], rest["offset"]) == (5, 0, 3)
    # Same day: by title. No date: last.
    assert titles(first) + titles(rest) == [
        "Ferry line to Pine Island opens", "Harbour ferry fares rise", "Night market returns",
        "Museum opens a bottle gallery", "Undated ferry timetable note"]
    assert first["articles"][0]["chunks"] == 1 and "body" not in first["articles"][0]


def test_title_search_ignores_case_and_counts_only_matches(client):
    found = client.get("/v1/articles", params={"q": "FERRY", "sort": "newest", "limit": 2}).json()
    assert found["total"] == 3
    assert titles(found) == ["Ferry line to Pine Island opens", "Harbour ferry fares rise"]
    assert client.get("/v1/articles", params={"q": "ferry", "offset": 2}).json()["total"] == 3
    assert client.get("/v1/articles", params={"q": "zeppelin"}).json() == {
        "total": 0, "offset": 0, "limit": 50, "articles": []}


@pytest.mark.parametrize("params, field", [({"sort": "oldest"}, "sort"), ({"q": "x" * 201}, "q")])
def test_listing_refuses_what_it_does_not_know(client, params, field):
    refused = client.get("/v1/articles", params=params)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "validation_error" and field in refused.text


def test_sources_are_distinct_and_counted(client):
    assert client.get("/v1/sources").json() == {"sources": [
        {"name": "City Desk", "articles": 2}, {"name": "Coast Courier", "articles": 2},
        {"name": "local", "articles": 1}]}


def test_sources_need_the_key_like_the_rest(services):
    with TestClient(create_app(services.settings.model_copy(update={"api_key": KEY}), services)) as c:
        assert c.get("/v1/sources").status_code == 401
        assert c.get("/v1/sources", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
        assert c.get("/").status_code == 200


def test_the_page_carries_the_question_limit(client):
    page = client.get("/")
    assert 'maxlength="321"' in page.text and "{{" not in page.text
    head = client.head("/")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-security-policy"]
    # Only from /, with its headers: not as a static file without them.
    assert client.get("/static/index.html").json()["error"]["code"] == "not_found"
    assert client.get("/static/app.js").status_code == 200
