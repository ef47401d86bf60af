"""Shared fixtures: the real embedding model, the real llama.cpp model, real Chroma.

Models are loaded once per test session; each index lives in a temporary
directory so tests never touch the user's data.
"""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from index.loaders import load_paths  # noqa: E402
from qa_service.cli import demo_corpus_path  # noqa: E402
from qa_service.settings import Settings  # noqa: E402


@pytest.fixture(scope="session")
def embedder():
    from index.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def generator():
    from qa_service.generation import LlamaCppGenerator, default_gguf_path

    return LlamaCppGenerator(default_gguf_path())


@pytest.fixture(scope="session")
def demo_articles():
    loaded = load_paths([demo_corpus_path()])
    assert not loaded.failures, loaded.failures
    return loaded.articles


@pytest.fixture(scope="session")
def demo_services(tmp_path_factory, embedder, generator, demo_articles):
    """Services over an embedded Chroma index holding the demo corpus (read-only for tests)."""
    from qa_service.services import Services

    settings = Settings(data_dir=tmp_path_factory.mktemp("demo-index"))
    services = Services.build(settings, embedder=embedder, generator=generator)
    services.ingestor.ingest(demo_articles)
    return services


@pytest.fixture
def fresh_services(tmp_path, embedder):
    """Services over an empty index of its own (no language model needed)."""
    from qa_service.services import Services

    return Services.build(Settings(data_dir=tmp_path / "index"), embedder=embedder)
