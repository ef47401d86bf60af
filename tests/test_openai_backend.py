"""The OpenAI-compatible backend against a real llama.cpp server on 127.0.0.1."""
from __future__ import annotations

import time

import pytest
from processes import free_port
from processes import llama_server as running_llama

from qa_service.answering import Answerer, Question
from qa_service.generation import ModelUnavailable, OpenAIGenerator, Usage
from qa_service.prompting import STOP, PromptBuilder, load_template
from qa_service.settings import GenerationSettings

# Loads the real models or starts servers: not part of `make test-fast`.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_server():
    port = free_port()
    with running_llama(port, "gemma-test"):
        yield f"http://127.0.0.1:{port}/v1"


def test_streams_tokens_from_the_server(llama_server):
    generator = OpenAIGenerator(GenerationSettings(openai_base_url=llama_server, openai_model="gemma-test"))
    usage = Usage()
    pieces = list(generator.stream("The capital city of France is", 12, ["\n"], usage))
    assert len(pieces) >= 2, "tokens must arrive as a stream, not in one piece"
    assert usage.tokens == len(pieces) and usage.first_token_ms is not None
    assert "".join(pieces).strip()


def _answerer(services, generator, **generation) -> Answerer:
    return Answerer(services.retriever, PromptBuilder(load_template("answer.txt")), generator,
                    services.sentence_vectors, GenerationSettings(**generation), services.settings.checking)


def test_answers_with_the_server_as_the_model(llama_server, demo_services, generator):
    """A model server gives no likelihoods, so it judges no candidate: the answer is the
    reader's own first choice, the one an in-process answerer gives without judging."""
    served = OpenAIGenerator(GenerationSettings(openai_base_url=llama_server, openai_model="gemma-test"))
    assert served.likelihoods("[1] Tram opens\nMayor Ana Ruiz rode the tram.\n", ["Question: Who?\nAnswer:"],
                              [" Ana Ruiz"]) is None
    question = Question("Who won the men's race at the Busan Harbour Marathon?", 5)
    result = _answerer(demo_services, served).result(question)
    answer = result.answer
    assert answer.model == "gemma-test" and not answer.abstained
    assert answer.answer.startswith("Daniel Kiprono [")
    unjudged = _answerer(demo_services, generator, judge_candidates=0).ask(question)
    assert (answer.answer, answer.citations) == (unjudged.answer, unjudged.citations)
    assert result.usage.prompt_tokens == 0  # nothing was scored
    for citation in answer.citations:
        body = demo_services.store.article_with_body(citation.article_id)[1]
        assert body[citation.start:citation.end] == citation.quote


def test_server_down_is_a_clear_error():
    generator = OpenAIGenerator(GenerationSettings(openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
                                                   openai_model="nobody", llm_timeout_s=2, llm_retries=1))
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match="127.0.0.1"):
        list(generator.stream("hello", 5, STOP))
    assert time.monotonic() - started < 10
