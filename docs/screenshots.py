"""Regenerates the README's screenshots of the web page (docs/page-*.png).

    .venv/bin/python docs/screenshots.py [--out docs]

Runs what a first-time user runs, `qa-service serve --ingest-demo`, on a free
port with a fresh data directory (so the demo corpus is all there is), and
drives Debian's chromium (playwright) through each view: the page as it
opens, the passages shown while the answer is written, a cited answer, the
article at its quote, uploads and the article list, an abstention, and the
ask view at phone width. Takes one to three minutes; answers come from the
real model, so the pictures follow the current answering code.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
QUESTION = "Who attended the meeting between Lee Jae Myung and Larry Fink?"
# Near the demo stories in words, answered by none of them.
UNANSWERED = "What did the harbour festival jury say about the fireworks?"
FINISHED = "body[data-state=answered], body[data-state=abstained], body[data-state=error]"
# Two files as a reporter would drop them: notes without a headline, and a Markdown story.
UPLOADS = {
    "council-vote-notes.txt": "The Haeundae district council voted 7-2 on Tuesday to close Dalmaji Hill Road to "
                              "cars on weekends from March.\n\nCouncillor Yoon Se-ra said the trial would run "
                              "for six months before a second vote.\n",
    "ferry-line.md": "---\ntitle: Busan opens a harbour ferry line to Yeongdo\nsource: Harbour Weekly\n"
                     "date: 2025-10-20\n---\n\nBusan opened a ferry line between Nampo and Yeongdo on Monday. "
                     "Boats run every 20 minutes from 7 a.m. to 10 p.m.\n",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data_dir: Path, port: int) -> subprocess.Popen:
    """`qa-service serve --ingest-demo`, ready once /readyz says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env |= {"QA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cli = Path(sys.executable).parent / "qa-service"
    process = subprocess.Popen([str(cli), "serve", "--ingest-demo", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("qa-service serve did not become ready")
        time.sleep(0.5)


def shoot(base: str, out: Path, files: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1000, "height": 860})
        page.goto(base)
        page.wait_for_selector("#article-count:not(:empty)")
        page.screenshot(path=out / "page-first-minute.png")

        page.fill("#question", QUESTION)
        page.click("#ask")
        # The passages come before the first token; caught while the draft is being written.
        page.wait_for_selector("body[data-state=writing], " + FINISHED, timeout=300_000)
        page.screenshot(path=out / "page-passages-first.png")
        page.wait_for_selector(FINISHED, timeout=300_000)
        page.click('#answer button.cite[data-n="1"]')
        page.screenshot(path=out / "page-answer.png", full_page=True)

        page.click('a.quote-link[data-n="1"]')
        page.wait_for_selector("#article-body mark")
        page.screenshot(path=out / "page-article.png")

        page.click("#nav-articles")
        page.set_input_files("#files", [files / name for name in UPLOADS])
        page.wait_for_selector("#upload-results li.ok >> nth=1")
        page.wait_for_selector("#article-rows tr >> nth=11")
        page.screenshot(path=out / "page-articles.png", full_page=True)

        page.click("#nav-ask")
        page.fill("#question", UNANSWERED)
        page.click("#ask")
        page.wait_for_selector(FINISHED, timeout=300_000)
        page.screenshot(path=out / "page-abstained.png", full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.goto(base)
        phone.fill("#question", QUESTION)
        phone.click("#ask")
        phone.wait_for_selector(FINISHED, timeout=300_000)
        phone.screenshot(path=out / "page-phone.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qa-screens-") as tmp:
        files = Path(tmp) / "uploads"
        files.mkdir()
        for name, text in UPLOADS.items():
            (files / name).write_text(text, encoding="utf-8")
        port = free_port()
        server = serve(Path(tmp) / "data", port)
        try:
            shoot(f"http://127.0.0.1:{port}", args.out, files)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("wrote", ", ".join(sorted(p.name for p in args.out.glob("page-*.png"))))


if __name__ == "__main__":
    main()
