"""The OpenAI-compatible backend against a real llama.cpp server on 127.0.0.1."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from qa_service.answering import Answerer, Question
from qa_service.generation import ModelUnavailable, OpenAIGenerator, Usage, default_gguf_path
from qa_service.prompting import STOP, PromptBuilder, load_template


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "gemma-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start within 120 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_streams_tokens_from_the_server(llama_server):
    generator = OpenAIGenerator(llama_server, "gemma-test")
    usage = Usage()
    pieces = list(generator.stream("The capital city of France is", 12, ["\n"], usage))
    assert len(pieces) >= 2, "tokens must arrive as a stream, not in one piece"
    assert usage.tokens == len(pieces) and usage.first_token_ms is not None
    assert "".join(pieces).strip()


def test_answers_through_the_server(llama_server, demo_services):
    answerer = Answerer(demo_services.retriever, PromptBuilder(load_template("answer.txt")),
                        OpenAIGenerator(llama_server, "gemma-test"), demo_services.checker)
    answer = answerer.ask(Question("Who signed the MOU between Korea and BlackRock?", 5))
    assert answer.model == "gemma-test"
    assert answer.passages and answer.timings_ms["generate"] > 0
    for citation in answer.citations:
        body = demo_services.store.article_record(citation.article_id, with_body=True)["body"]
        assert body[citation.start:citation.end] == citation.quote


def test_server_down_is_a_clear_error():
    generator = OpenAIGenerator(f"http://127.0.0.1:{_free_port()}/v1", "nobody", timeout_s=2, retries=1)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="127.0.0.1"):
        list(generator.stream("hello", 5, STOP))
    assert time.monotonic() - started < 10
