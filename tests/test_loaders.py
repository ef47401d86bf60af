"""Article loaders: every format, the directory walk and each kind of bad input."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.article import Article
from index.loaders import (
    LoaderError,
    LoadFailure,
    input_bytes,
    load_bytes,
    load_file,
    load_paths,
    load_upload,
    stream_paths,
)

FIXTURES = Path(__file__).parent / "fixtures" / "loaders"


def one(path: Path, **kwargs) -> Article:
    articles = load_file(path, **kwargs)
    assert len(articles) == 1
    return articles[0]


def reasons(failures: list[LoadFailure]) -> dict[str, str]:
    return {Path(f.path).name: f.reason for f in failures}


# --- plain text -------------------------------------------------------------


def test_txt_date_captions_byline_and_first_sentence_title():
    article = one(FIXTURES / "harbour-robot-pilot.txt")
    assert article.published_at == "2024-03-04T14:05:00"
    # No headline: the first sentence, cut to 100 characters at a word, is the title; the file names the source.
    assert article.title == ("BUSAN — The port authority began testing an underwater inspection robot on Monday, "
                             "hoping to cut…")
    assert article.authors == ("Mina Cho",)
    assert article.source == "harbour-robot-pilot.txt"
    assert article.url is None
    assert article.captions == (
        "Technicians lower an inspection robot into the water beside the container pier"
        " in Busan on Monday. [HARBOUR AUTHORITY]",
        "A sonar image produced by the robot shows cracks in a concrete pile at the pier. [YONHAP]",
    )
    assert article.body.startswith("BUSAN — The port authority began testing")
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 4
    assert paragraphs[-1].startswith("Local fishing cooperatives")
    for unwanted in ("Technicians lower", "sonar image", "BY MINA", "protected", "\u00a0", " \n"):
        assert unwanted not in article.body


@pytest.mark.parametrize("name, data", [
    ("korea-blackrock-ai-mou.txt", b"Published: 2025-09-23\n\nKorea and BlackRock signed an AI memorandum on "
                                   b"Monday. The deal covers data centres.\n\nMore talks follow in October.\n"),
    ("korea-blackrock-ai-mou.md", b"Korea and BlackRock signed an AI memorandum on Monday. The deal covers data "
                                  b"centres.\n\nMore talks follow in October.\n"),
    ("korea-blackrock-ai-mou.html", b"<html><body><article><p>Korea and BlackRock signed an AI memorandum on "
                                    b"Monday. The deal covers data centres.</p><p>More talks follow in October."
                                    b"</p></article></body></html>"),
])
def test_an_untitled_file_is_titled_by_its_first_sentence_and_sourced_by_its_name(name, data):
    (article,) = load_bytes(name, data)
    assert article.title == "Korea and BlackRock signed an AI memorandum on Monday."
    assert article.source == name
    assert article.body.startswith(article.title)
    # A source given at ingest still wins, and a headline keeps the default source.
    assert load_bytes(name, data, source="Newsdesk")[0].source == "Newsdesk"
    headlined = b"Ferry adds a winter timetable\n\nThe ferry runs twice more.\n"
    assert load_bytes("ferry.txt", headlined)[0].source == "local"


def test_txt_headline_iso_date_and_two_authors():
    article = one(FIXTURES / "ferry-winter-timetable.txt")
    assert article.title == "Island ferry adds a winter timetable"
    assert article.published_at == "2024-11-02"
    assert article.authors == ("Jonas Weber", "Hana Okafor")
    assert article.captions == ()
    assert article.body == (
        "The island ferry will run two extra crossings a day from December, the operator said on Saturday."
        "\n\nPassengers had complained about long queues during the holiday season last year."
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Published: 23 Sep. 2025, 08:26", "2025-09-23T08:26:00"),
        ("Published: 2025-09-23", "2025-09-23"),
        ("Published: September 23, 2025", "2025-09-23"),
    ],
)
def test_txt_published_line_formats(line, expected):
    text = f"{line}\nA first sentence of the body that ends properly.\n"
    assert load_bytes("dated.txt", text.encode())[0].published_at == expected


def test_txt_unrecognised_published_date_is_an_error():
    with pytest.raises(LoaderError, match="unrecognised date"):
        load_bytes("dated.txt", b"Published: sometime soon\nBody text.\n")


# --- markdown ---------------------------------------------------------------


def test_markdown_with_front_matter():
    article = one(FIXTURES / "library-hours.md")
    assert article.title == "City library extends weekend hours"
    assert article.published_at == "2024-09-07"
    assert article.authors == ("Rosa Lindqvist", "Ade Bello")
    assert article.url == "https://www.cityledger.example/culture/library-hours?ref=homepage"
    assert article.source == "City Ledger"
    assert article.body == (
        "The central library will stay open until 9 p.m. on Saturdays, starting next month,"
        " the council's culture office announced."
        "\n\nWhat changes"
        "\n\n- Saturday: 9 a.m. to 9 p.m.\n- Sunday: 10 a.m. to 6 p.m."
        "\n\nMore details are on the council website."
    )


def test_markdown_heading_title_without_front_matter():
    article = one(FIXTURES / "garden-notes.md")
    assert article.title == "Community garden opens a seed exchange"
    assert article.published_at is None
    assert article.source == "local"
    assert article.body == (
        "Volunteers at the Eastside community garden set up a shelf where neighbours can swap seeds for free."
        "\n\nThe shelf already holds tomato, bean and marigold seeds."
    )


def test_markdown_quotes_code_and_reference_links():
    text = (
        "Intro with a [reference link][r1] and `inline code`.\n\n"
        "> A quoted line\n> that wraps.\n\n"
        "```\nfetch --all\n```\n\n"
        "***\n\n"
        "[r1]: https://example.org/ref\n"
    )
    body = load_bytes("notes.md", text.encode())[0].body
    assert body == "Intro with a reference link and inline code.\n\nA quoted line that wraps.\n\nfetch --all"


def test_markdown_unclosed_front_matter_is_an_error():
    with pytest.raises(LoaderError, match="front matter opened with '---' is never closed"):
        load_bytes("open.md", b"---\ntitle: Never closed\n\nBody text.\n")


# --- HTML -------------------------------------------------------------------


def test_html_metadata_and_no_script_text():
    article = one(FIXTURES / "night-market.html")
    assert article.title == "Night market reopens after flood repairs"
    assert article.published_at == "2024-06-14"
    assert article.authors == ("Priya Nair", "Tomas Ruiz")
    assert article.url == "https://www.riverside-courier.example/city/night-market-reopens"
    assert article.source == "riverside-courier.example"
    assert article.body.startswith("The riverside night market opened its gates again")
    assert article.body.count("\n\n") == 2
    for unwanted in ("MUST_NOT_APPEAR", "trackingToken", "display: none", "Home"):
        assert unwanted not in article.body


def test_html_without_text_fails():
    with pytest.raises(LoaderError, match="no article text found in HTML"):
        load_bytes("empty.html", b"<html><head><script>var a = 1;</script></head><body></body></html>")


# --- JSON and JSON Lines ----------------------------------------------------


def test_json_object_with_aliases():
    article = one(FIXTURES / "bridge-closure.json")
    assert article.title == "Old bridge closes for repainting"
    assert article.body.endswith("Pedestrians can still cross on a temporary walkway.")
    assert article.published_at == "2024-04-22"
    assert article.authors == ("Lena Fischer", "Omar Haddad")
    assert article.captions == ("Scaffolding on the old iron bridge. [CITY HALL]",)
    assert article.source == "news.example.com"


def test_json_list_reports_bad_record_by_index():
    result = load_paths([FIXTURES / "briefs.json"])
    bakery, rowing = result.articles
    assert bakery.source == "Valley Weekly"
    assert bakery.published_at == "2024-05-01"
    assert rowing.title == "The rowing club finished second at the spring regatta."
    assert rowing.source == "valleyweekly.example"
    assert result.failures == [
        LoadFailure(str(FIXTURES / "briefs.json") + "[2]", "missing required field 'body' (or 'text')")
    ]


def test_jsonl_bad_records_do_not_stop_good_ones():
    result = load_paths([FIXTURES / "records.jsonl"])
    assert [a.title for a in result.articles] == ["Tram line gets new stops", "Beach cleanup draws hundreds"]
    assert result.articles[0].published_at == "2024-08-19T07:45:00"
    assert result.articles[1].source == "coastpost.example"
    name = str(FIXTURES / "records.jsonl")
    assert [f.path for f in result.failures] == [f"{name}:3", f"{name}:5"]
    assert "missing required field 'body'" in result.failures[0].reason
    assert result.failures[1].reason.startswith("invalid JSON at column")


def test_strict_load_file_raises_on_a_bad_record():
    with pytest.raises(LoaderError, match=r"records\.jsonl:3: missing required field 'body'"):
        load_file(FIXTURES / "records.jsonl")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"body": "Some text."}, "missing required field 'title' (needed when there is no 'url')"),
        ({"title": "T", "body": "   "}, "field 'body' must be a non-empty string"),
        ({"title": "T", "body": "B", "date": "next week"}, "unrecognised date in field 'date': 'next week'"),
        ({"title": "T", "body": "B", "authors": [1, 2]}, "field 'authors' must be a list of strings"),
        ([1, 2], "record is a JSON list, not an object"),
    ],
)
def test_json_record_errors_name_the_field(record, reason):
    result = load_upload("one.jsonl", json.dumps(record).encode())
    assert result.failures == [LoadFailure("one.jsonl:1", reason)]


def test_invalid_json_gives_line_and_column():
    result = load_upload("broken.json", b'{\n  "title": "x",\n  "body": oops\n}')
    assert result.failures == [
        LoadFailure("broken.json", "invalid JSON at line 3, column 11: Expecting value")
    ]


# --- RealTimeQA search results ----------------------------------------------


def test_gcs_file_dedupes_converts_dates_and_skips_empty_text():
    result = load_paths([FIXTURES / "20240105_gcs.jsonl"])
    titles = [a.title for a in result.articles]
    assert titles == [
        "Lighthouse keeper retires after 40 years",
        "Ice rink opens early",
        "Ferry fares rise in January",
    ]
    lighthouse, rink, ferry = result.articles
    assert lighthouse.published_at == "2023-12-30"
    assert lighthouse.source == "coastpost.example"
    assert lighthouse.authors == ("Iris Vance",)
    assert lighthouse.body.split("\n\n")[1] == "She plans to write a book about the storms she watched."
    assert rink.published_at is None
    assert ferry.source == "harbourtimes.example"
    # The only failure is the truncated last line; the empty-text result is no failure.
    assert result.failures == [
        LoadFailure(str(FIXTURES / "20240105_gcs.jsonl") + ":3", "invalid JSON at column 49: Expecting value")
    ]


# --- directories and bad inputs ---------------------------------------------


def test_directory_walk_mixes_good_and_bad_files(tmp_path):
    (tmp_path / "a-good.txt").write_text("Short body of a local story, written for the test.\n")
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "b.md").write_text("# Nested note\n\nA paragraph inside a nested folder.\n")
    (tmp_path / "nested" / "deeper" / "c.json").write_text('{"title": "Deep", "body": "Deep body."}')
    (tmp_path / "nested" / "broken.json").write_text('{"title": "x",')
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / ".hidden.txt").write_text("Hidden files are skipped.")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.txt").write_text("Hidden folders are skipped.")

    result = load_paths([tmp_path, tmp_path / "missing.md"])

    # Depth first, by name: nested/b.md comes before nested/deeper/c.json.
    assert [a.title for a in result.articles] == [
        "Short body of a local story, written for the test.", "Nested note", "Deep"]
    assert reasons(result.failures) == {
        "empty.txt": "empty file",
        "broken.json": "invalid JSON at line 1, column 15: Expecting property name enclosed in double quotes",
        "photo.png": "unsupported file type '.png'",
        "missing.md": "no such file or directory",
    }
    assert result.failures[-1].path == str(tmp_path / "missing.md")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\t\n", "empty file (whitespace only)"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary file (contains NUL bytes)"),
        ("latin1.txt", b"Caf\xe9 au lait is served here.", "not valid UTF-8 (byte 0xe9 at offset 3)"),
        ("bom-latin1.txt", b"\xef\xbb\xbfCaf\xe9", "not valid UTF-8 (byte 0xe9 at offset 6)"),
        ("notes.docx", b"anything", "unsupported file type '.docx'"),
        ("README", b"anything", "unsupported file type (no extension)"),
    ],
)
def test_bad_inputs_have_clear_reasons(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    assert load_paths([path]).failures == [LoadFailure(str(path), reason)]
    assert load_upload(name, data).failures == [LoadFailure(name, reason)]
    with pytest.raises(LoaderError, match="^" + reason.replace("(", r"\(").replace(")", r"\)") + "$"):
        load_bytes(name, data)


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(20 * 1024 * 1024)  # sparse: 20 MB on paper, nothing written
    assert load_paths([path]).failures == [LoadFailure(str(path), "file too large: 20 MB (limit 10 MB)")]
    with pytest.raises(LoaderError, match=r"^file too large: 1\.5 MB \(limit 1 MB\)$"):
        load_bytes("big.txt", b"x" * (3 * 512 * 1024), max_file_bytes=1024 * 1024)


def test_utf8_bom_is_accepted():
    article = load_bytes("bom.txt", "\ufeffA story with a byte order mark in front.\n".encode())[0]
    assert article.body == "A story with a byte order mark in front."


# --- sources, ids and uploads -----------------------------------------------


def test_source_override_applies_to_every_format():
    result = load_paths(sorted(FIXTURES.iterdir()), source="Test Desk")
    assert len(result.articles) == 13
    assert len(result.failures) == 4  # the bad records of briefs.json, records.jsonl and the gcs file
    assert {a.source for a in result.articles} == {"Test Desk"}


def test_source_override_recomputes_ids_without_url_only():
    plain = one(FIXTURES / "harbour-robot-pilot.txt")
    renamed = one(FIXTURES / "harbour-robot-pilot.txt", source="Busan Desk")
    assert renamed.id != plain.id
    with_url = one(FIXTURES / "bridge-closure.json")
    assert one(FIXTURES / "bridge-closure.json", source="Other").id == with_url.id


def test_ids_are_stable_across_tracking_query_strings():
    def record(url: str) -> bytes:
        return json.dumps({"title": "Same story", "body": "Same body.", "url": url}).encode()

    first = load_bytes("a.json", record("https://news.example.com/story/42?utm_source=x"))[0]
    second = load_bytes("b.json", record("https://NEWS.example.com/story/42/"))[0]
    again = load_bytes("a.json", record("https://news.example.com/story/42?utm_source=x"))[0]
    assert first.id == second.id == again.id
    assert len(first.id) == 16


def test_load_bytes_parses_an_upload_like_a_file():
    data = (FIXTURES / "library-hours.md").read_bytes()
    [uploaded] = load_bytes("upload.md", data, source="Uploads")
    from_disk = one(FIXTURES / "library-hours.md", source="Uploads")
    assert uploaded == from_disk
    assert load_bytes("upload.markdown", data)[0].title == "City library extends weekend hours"


def test_load_upload_keeps_good_records_of_a_partly_bad_upload():
    data = b'{"title": "Good", "body": "Fine."}\n{"title": "Bad"}\n'
    result = load_upload("batch.jsonl", data)
    assert [a.title for a in result.articles] == ["Good"]
    assert [f.path for f in result.failures] == ["batch.jsonl:2"]


def test_a_jsonl_archive_streams_a_record_at_a_time_past_the_file_limit(tmp_path):
    path = tmp_path / "archive.jsonl"
    lines = [json.dumps({"title": f"Story {n}", "body": f"The ferry sailed {n} times."}) for n in range(60)]
    lines[30] = json.dumps({"title": "Huge", "body": "x" * 3000})
    path.write_text("\n".join(lines) + "\n")
    streamed = list(stream_paths([path], max_file_bytes=1000))  # the file is over 3 KB
    assert len(streamed) == 60 and sum(size for _, size in streamed) == path.stat().st_size == input_bytes([path])
    articles = [a for loaded, _ in streamed for a in loaded.articles]
    assert len(articles) == 59 and articles[0].title == "Story 0"
    failures = [f for loaded, _ in streamed for f in loaded.failures]
    assert failures == [LoadFailure(f"{path}:31", "record too large: over 1,000 bytes (the limit of a file)")]
    assert load_paths([path], max_file_bytes=1000).articles == articles


def test_an_empty_jsonl_archive_is_reported(tmp_path):
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "none.jsonl").write_text("")
    assert reasons(load_paths([tmp_path]).failures) == {"blank.jsonl": "empty file (whitespace only)",
                                                         "none.jsonl": "empty file"}
