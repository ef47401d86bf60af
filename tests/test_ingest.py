"""Ingest into a real Chroma with the real MiniLM model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

import qa_service.readable
from index.article import Article, Duplicate
from index.chunking import Chunker
from index.sentences import decode_spans, sentence_spans
from index.store import ChromaStore, EmbeddingModelMismatch

ROOT = Path(__file__).resolve().parents[1]


def _article(body: str, title: str = "Ferry line opens") -> Article:
    return Article.create(title=title, body=body, url="https://news.example.com/ferry", source="example",
                          published_at="2025-03-02", authors=["Ana Ruiz"])


BODY = " ".join(
    f"Paragraph sentence {i} says the ferry to Pine Island carried {i * 10} passengers on its first day."
    for i in range(40)
)


def test_every_chunk_is_an_exact_slice(demo_articles):
    chunker = Chunker(160, 30)
    for article in demo_articles + [_article(BODY)]:
        chunks = chunker.chunk(article)
        assert chunks, article.title
        for chunk in chunks:
            assert article.body[chunk.start:chunk.end] == chunk.text
            assert chunk.id == f"{article.id}:{chunk.n}"
    long_chunks = chunker.chunk(_article(BODY))
    assert len(long_chunks) > 2
    assert all(b.start < a.end for a, b in pairwise(long_chunks)), "chunks overlap"


def test_each_chunk_keeps_the_body_sentences_it_holds(demo_articles):
    """The sentences stored with a chunk are the article's, as its body was cut, in the chunk's offsets."""
    for article in demo_articles + [_article(BODY)]:
        body_spans = sentence_spans(article.body)
        for chunk in Chunker(160, 30).chunk(article):
            held = [(a + chunk.start, b + chunk.start) for a, b in decode_spans(chunk.sentence_spans)]
            assert held == [s for s in body_spans if chunk.start <= s[0] and s[1] <= chunk.end], article.title


def test_passages_read_the_sentences_stored_at_ingest_without_cutting_them_again(fresh_services, monkeypatch):
    article = _article(BODY)
    fresh_services.ingestor.ingest([article])
    ids = [f"{article.id}:{n}" for n in range(3)]
    from_chroma = {c.id: c for c in fresh_services.store.get_chunks(ids)}
    from_keywords = fresh_services.store.keywords.chunks(ids)
    assert all(from_chroma[i].sentence_spans and from_chroma[i] == from_keywords[i] for i in ids)

    monkeypatch.setattr(qa_service.readable, "sentence_spans", lambda *_: pytest.fail("a passage was cut again"))
    found = fresh_services.retriever.retrieve("How many passengers did the ferry to Pine Island carry?", 3)
    assert found.passages
    for p in found.passages:
        spans = decode_spans(fresh_services.store.keywords.chunks([p.chunk_id])[p.chunk_id].sentence_spans)
        assert [(s.start, s.end) for s in p.sentences] == [(p.start + a, p.start + b) for a, b in spans]
        assert all(article.body[s.start:s.end] == s.text for s in p.sentences)


def test_reingest_is_idempotent_update_replaces_delete_removes(fresh_services):
    ingestor, store = fresh_services.ingestor, fresh_services.store
    first = ingestor.ingest([_article(BODY)])
    assert (first.added, first.unchanged) == (1, 0) and first.chunks > 2
    count = store.count_chunks()

    second = ingestor.ingest([_article(BODY)])
    assert (second.added, second.updated, second.unchanged, second.chunks) == (0, 0, 1, 0)
    assert store.count_chunks() == count

    shorter = _article("The ferry to Pine Island was cancelled after one week. Officials blamed the weather.")
    third = ingestor.ingest([shorter])
    assert (third.updated, third.chunks) == (1, 1)
    ids = store.chunks.get(where={"article_id": shorter.id})["ids"]
    assert ids == [f"{shorter.id}:0"], "old chunks must not survive an update"
    assert store.article_record(shorter.id).content_hash == shorter.content_hash

    retitled = replace(shorter, title="Ferry line cancelled")
    assert ingestor.ingest([retitled]).updated == 1, "a metadata change is an update"

    assert store.delete_article(shorter.id) is True
    assert store.article_record(shorter.id) is None
    assert store.count_chunks() == 0
    assert store.delete_article(shorter.id) is False


def test_keyword_index_follows_writes(fresh_services):
    ingestor, keywords = fresh_services.ingestor, fresh_services.keywords
    article = _article("A lighthouse keeper named Ottoline Brandt repainted the tower.")
    assert keywords.search("Ottoline", 5) == []
    ingestor.ingest([article])
    assert [c.article_id for c, _ in keywords.search("Ottoline", 5)] == [article.id]
    # Same article, same chunk ids, new text: the index must not keep the old chunk's tokens.
    edited = _article("A lighthouse keeper named Wilhelmina Brandt repainted the tower.")
    assert edited.id == article.id and ingestor.ingest([edited]).updated == 1
    assert keywords.search("Ottoline", 5) == []
    assert [c.article_id for c, _ in keywords.search("Wilhelmina", 5)] == [article.id]
    fresh_services.store.delete_article(article.id)
    assert keywords.search("Wilhelmina", 5) == []


def test_opening_with_another_model_names_both(fresh_services):
    client = fresh_services.store.client
    with pytest.raises(EmbeddingModelMismatch) as error:
        ChromaStore(client, fresh_services.settings.collection, "other-embedder-v2", 768)
    message = str(error.value)
    assert "all-MiniLM-L6-v2" in message and "other-embedder-v2" in message


def test_query_embedding_from_many_threads_leaves_torch_threads_alone(embedder):
    import torch

    threads = torch.get_num_threads()
    question = "Where will Nimbara Cloud build its AI data centre?"
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(embedder.embed_query, [question] * 16))
    assert torch.get_num_threads() == threads
    with ThreadPoolExecutor(1) as fresh:
        assert fresh.submit(torch.get_num_threads).result() == threads
    assert all(np.array_equal(v, embedder.embed([question])[0]) for v in vectors)


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


@pytest.mark.slow  # its CLI subprocesses load the embedding model
def test_cli_ingest_reports_bad_files_and_keeps_good_ones(tmp_path):
    data = tmp_path / "data"
    good = tmp_path / "batch"
    good.mkdir()
    (good / "ferry.json").write_text(json.dumps({"title": "Ferry", "body": "The Pine Island ferry sailed.",
                                                 "published_at": "2025-03-02"}))
    first = _cli("ingest", str(good), "--json", data_dir=data)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 1

    (good / "empty.txt").write_text("")
    (good / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (good / "broken.json").write_text('{"title": "x", ')
    (good / "nobody.json").write_text('{"title": "No body here"}')
    (good / "latin1.txt").write_bytes("Caf\xe9 owners protest.".encode("latin-1"))
    (good / "huge.txt").write_bytes(b"a" * (20 * 1024 * 1024))
    (good / "library.md").write_text(
        "---\ntitle: Library hours\npublished: 2025-03-05\n---\n\nThe library opens late.\n")
    second = _cli("ingest", str(good), "--json", data_dir=data)
    assert second.returncode == 1, "exit code must say some files failed"
    report = json.loads(second.stdout)
    assert (report["added"], report["unchanged"]) == (1, 1)
    reasons = {Path(f["name"]).name: f["reason"] for f in report["failed"]}
    assert set(reasons) == {"empty.txt", "binary.txt", "broken.json", "nobody.json", "latin1.txt", "huge.txt"}
    assert "empty" in reasons["empty.txt"].lower()
    assert "binary" in reasons["binary.txt"].lower()
    assert "json" in reasons["broken.json"].lower()
    assert "body" in reasons["nobody.json"].lower()
    assert "utf-8" in reasons["latin1.txt"].lower()
    assert "mb" in reasons["huge.txt"].lower()

    listed = _cli("articles", "list", "--json", data_dir=data)
    titles = sorted(a["title"] for a in json.loads(listed.stdout)["articles"])
    assert titles == ["Ferry", "Library hours"], "nothing already indexed is lost"

    article_id = next(a["id"] for a in json.loads(listed.stdout)["articles"] if a["title"] == "Ferry")
    shown = json.loads(_cli("articles", "show", article_id, "--json", data_dir=data).stdout)
    assert shown["body"] == "The Pine Island ferry sailed." and shown["published_at"] == "2025-03-02"
    assert _cli("articles", "delete", article_id, data_dir=data).returncode == 0
    assert _cli("articles", "show", article_id, data_dir=data).returncode == 1


WIRE = ("SEOUL, March 2 (Wire) - The Bank of Korea held its policy rate at 2.5 percent on Thursday. "
        "Governor Rhee said inflation had eased.")


def _copy(outlet: str, body: str = WIRE) -> Article:
    return Article.create(title=f"Bank of Korea holds rates ({outlet})", body=body,
                          url=f"https://{outlet}.example.com/boc", source=outlet, published_at="2025-03-02")


def test_an_exact_duplicate_under_another_id_is_reported_not_indexed(fresh_services):
    ingestor, store = fresh_services.ingestor, fresh_services.store
    first = ingestor.ingest([_copy("herald"), _copy("times")])  # wire copy republished, in one batch
    assert (first.added, first.article_ids) == (1, [_copy("herald").id])
    assert first.duplicates == [Duplicate(_copy("times").id, _copy("times").title, _copy("herald").id)]
    chunks = store.count_chunks()

    # Whitespace does not make a new text (the hash is of the normalised body).
    later = ingestor.ingest([_copy("post", WIRE.replace(" - ", "  -\n "))])
    assert later.added == 0 and [d.duplicate_of for d in later.duplicates] == [_copy("herald").id]
    assert store.count_articles() == 1 and store.count_chunks() == chunks

    # The holder itself: unchanged, or updated on a metadata edit; never its own duplicate.
    assert ingestor.ingest([_copy("herald")]).unchanged == 1
    retitled = replace(_copy("herald"), title="Rates held")
    assert ingestor.ingest([retitled]).updated == 1

    # Once the holder is gone, a copy may be indexed.
    assert store.delete_article(retitled.id)
    assert ingestor.ingest([_copy("times")]).added == 1


def _failing_body(n: int) -> str:
    """Words of letters and punctuation: half letters (text enough to index), and the costliest
    shape for spaCy's tokenizer. A new text each time: the tokenizer remembers the words it has cut."""
    import random
    import uuid

    rng = random.Random(uuid.uuid4().int)
    return "".join(rng.choice("abcdefghij") + rng.choice("!?.,;:()[]{}'\"“”«»<>") for _ in range(n // 2))


def test_an_article_that_cannot_be_analysed_in_time_fails_alone(fresh_services):
    ingestor = fresh_services.variant(analysis_timeout_s=0.5).ingestor
    good = _article(BODY)
    punctuation = Article.create(title="Punctuation", body="!?." * 2000)
    worst = Article.create(title="Worst case", body=_failing_body(200_000))
    started = time.monotonic()
    report = ingestor.ingest([punctuation, worst, good])
    assert (report.added, report.article_ids) == (1, [good.id])
    reasons = {f.path: f.reason for f in report.failed}
    assert "not text" in reasons["article 'Punctuation'"]
    assert "took over 0.5 s (QA_ANALYSIS_TIMEOUT_S)" in reasons["article 'Worst case'"]
    # The bound (0.5 s) plus the good article's embedding and writes: generous margins.
    assert time.monotonic() - started < 30
    assert fresh_services.store.count_articles() == 1


def test_an_archive_ingest_stopped_midway_resumes_without_embedding_again(tmp_path):
    """A JSON Lines archive streams through `qa-service ingest`; killed once some groups are
    stored, the same command finishes the job: what was stored is unchanged (not analysed or
    embedded again) and only the rest is written."""
    import sqlite3

    data = tmp_path / "data"
    archive = tmp_path / "archive.jsonl"
    total = 640
    archive.write_text("".join(json.dumps({
        "title": f"Harbour note {n}", "published_at": "2025-03-02",
        "body": f"The ferry to Pine Island ran {n} minutes late on Monday. Fog closed the bay at dawn.",
    }) + "\n" for n in range(total)))
    env = {**os.environ, "QA_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen([sys.executable, "-m", "cli", "ingest", str(archive), "--json"], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    catalog = data / "chroma" / "articles.catalog.sqlite3"

    def stored() -> int:
        try:
            with sqlite3.connect(catalog) as db:
                return db.execute("SELECT count(*) FROM articles").fetchone()[0]
        except sqlite3.Error:  # not created yet
            return 0

    try:
        deadline = time.monotonic() + 600
        while stored() == 0:
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no group was stored"
            time.sleep(0.05)
    finally:
        first.kill()
        first.wait()
    kept = stored()
    assert 0 < kept < total

    second = _cli("ingest", str(archive), "--json", data_dir=data)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert (report["unchanged"], report["added"]) == (kept, total - kept)
    assert report["chunks"] == total - kept, "only what was not stored is embedded and written"
    assert stored() == total
