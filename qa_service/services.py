"""The one place that builds the object graph from Settings.

CLI commands and the FastAPI app factory call ``Services.build`` once per
process and pass the result down; models are loaded here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from index.chunking import Chunker
from index.embeddings import Embedder, SentenceTransformerEmbedder
from index.keyword import KeywordIndex
from index.pipeline import Ingestor
from index.store import ChromaStore, make_client
from qa_service.answering import Answerer
from qa_service.citations import CitationChecker
from qa_service.generation import Generator, LlamaCppGenerator, OpenAIGenerator, default_gguf_path
from qa_service.prompting import PromptBuilder, load_template
from qa_service.retrieval import Retriever
from qa_service.settings import Settings


@dataclass
class Services:
    """Long-lived components of one process. The language model loads on first use."""

    settings: Settings
    embedder: Embedder
    store: ChromaStore
    shared_generator: Generator | None = None
    keywords: KeywordIndex = field(init=False)

    def __post_init__(self) -> None:
        self.keywords = KeywordIndex(self.store.generation, self.store.iter_chunks)

    @classmethod
    def build(cls, settings: Settings, embedder: Embedder | None = None,
              generator: Generator | None = None) -> "Services":
        """Build from settings; pass ``embedder``/``generator`` to reuse already-loaded models."""
        embedder = embedder or SentenceTransformerEmbedder(settings.embed_model, settings.embed_batch_size,
                                                           verbose=settings.verbose)
        if settings.chroma_host:
            client = make_client(host=settings.chroma_host, port=settings.chroma_port)
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            client = make_client(path=str(settings.chroma_path))
        store = ChromaStore(client, settings.collection, embedder.model_id, embedder.dim)
        return cls(settings, embedder, store, generator)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(Chunker(self.settings.chunk_size, self.settings.chunk_overlap), self.embedder, self.store)

    @cached_property
    def retriever(self) -> Retriever:
        s = self.settings
        return Retriever(
            self.embedder, self.store, self.keywords, rrf_k=s.rrf_k, max_per_article=s.max_per_article,
            min_relevance=s.min_relevance, recency_half_life_days=s.recency_half_life_days,
            recency_weight=s.recency_weight, sentence_retrieval=s.sentence_retrieval,
        )

    @cached_property
    def checker(self) -> CitationChecker:
        return CitationChecker(self.embedder, self.settings.support_threshold, stored=self.store.sentence_vectors)

    @cached_property
    def generator(self) -> Generator:
        if self.shared_generator is not None:
            return self.shared_generator
        s = self.settings
        if s.llm_backend == "openai":
            return OpenAIGenerator(s.openai_base_url, s.openai_model, s.openai_api_key,
                                   s.llm_timeout_s, s.llm_retries)
        return LlamaCppGenerator(s.gguf_path or default_gguf_path(), s.llm_context, s.llm_threads, verbose=s.verbose)

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(
            self.retriever, PromptBuilder(load_template("answer.txt")), self.generator, self.checker,
            max_tokens=self.settings.max_answer_tokens, flag_unsupported=self.settings.unsupported == "flag",
            prompt_words=self.settings.prompt_words, list_sentences=self.settings.list_sentences,
            condense=self.settings.condense, extractive_fallback=self.settings.extractive_fallback,
            judge_candidates=self.settings.judge_candidates,
        )
