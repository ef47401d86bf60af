"""The one container: every long-lived component of a process, built from one Settings.

The CLI, the app factory and the evals build one per process (the bench one
per variant, from changed settings) and pass it down. Building it is cheap
and touches nothing: each component is made on first use, models load on
their first call or in ``warm_up()``, and ``close()`` releases what was loaded
or opened.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from index import analysis
from index.chunking import Chunker
from index.embeddings import Embedder, OpenAIEmbedder, SentenceTransformerEmbedder, model_identity
from index.keyword import KeywordIndex
from index.pipeline import Ingestor
from index.store import ChromaStore, StoredChunk, make_client
from qa_service.answering import Answerer
from qa_service.generation import Generator, generator_for
from qa_service.prompting import PromptBuilder, load_template
from qa_service.retrieval import Retriever
from qa_service.sentence_vectors import SentenceVectors
from qa_service.settings import Settings
from qa_service.support_check import SupportChecker


def embedder_for(settings: Settings) -> Embedder:
    """The embedding model ``settings`` name, in this process or on a server (not loaded or asked yet)."""
    s = settings.embedding
    if s.embed_backend == "openai":
        return OpenAIEmbedder(s.embed_base_url, s.embed_model, s.embed_batch_size, api_key=s.embed_api_key,
                              timeout_s=s.embed_timeout_s, retries=s.embed_retries, workers=s.embed_workers)
    return SentenceTransformerEmbedder(s.embed_model, s.embed_batch_size, verbose=settings.verbose)


class Services:
    """Long-lived components of one process.

    Pass ``embedder`` / ``generator`` to share models another container loaded
    (tests, evals and the bench build several indexes over one pair of models);
    ``close()`` leaves shared models to their owner.
    """

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None,
                 generator: Generator | None = None) -> None:
        self.settings = settings
        self._shared_embedder = embedder
        self._shared_generator = generator
        self.warm = False  # set by warm_up(): models loaded, the fixed prompt evaluated, keyword index ready

    @cached_property
    def embedder(self) -> Embedder:
        return self._shared_embedder or embedder_for(self.settings)

    @cached_property
    def generator(self) -> Generator:
        return self._shared_generator or generator_for(self.settings.generation, verbose=self.settings.verbose)

    @cached_property
    def store(self) -> ChromaStore:
        """The index; opening it needs the embedding model's dimension, so that model loads (or its server
        is asked) here."""
        s = self.settings
        if not s.chroma_host:
            s.data_dir.mkdir(parents=True, exist_ok=True)
        client = make_client(path=str(s.chroma_path), host=s.chroma_host, port=s.chroma_port)
        return ChromaStore(client, s.collection, self.embedder.model_id, self.embedder.dim,
                           keyword_dir=self.keyword_dir)

    @cached_property
    def records(self) -> ChromaStore | None:
        """The index for article records only (list, show, delete), opened without loading the
        embedding model: importing torch alone takes seconds. The model is checked by name
        against the one the index records; its dimension by the commands that embed. None
        when there is no index yet."""
        from chromadb.errors import NotFoundError

        s = self.settings
        model_id = model_identity(s.embed_model)
        client = make_client(path=str(s.chroma_path), host=s.chroma_host, port=s.chroma_port)
        try:
            recorded = client.get_collection(s.collection).metadata or {}
        except NotFoundError:
            return None
        return ChromaStore(client, s.collection, model_id, int(recorded.get("embedding_dim") or 0),
                           keyword_dir=self.keyword_dir)

    @property
    def keyword_dir(self) -> Path:
        """Where this host keeps its copies of the keyword indexes of Chroma servers (``index.keyword_log``)."""
        return self.settings.data_dir / "keywords"

    @cached_property
    def keywords(self) -> KeywordIndex[StoredChunk]:
        """The store's keyword index, which its writes keep in step (see ``index.keyword``)."""
        return self.store.keywords

    @cached_property
    def ingestor(self) -> Ingestor:
        s = self.settings
        return Ingestor(Chunker(s.chunk_size, s.chunk_overlap), self.embedder, self.store, s.analysis_timeout_s)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.embedder, self.store, self.keywords, self.settings.retrieval)

    @cached_property
    def sentence_vectors(self) -> SentenceVectors:
        return SentenceVectors(self.embedder, stored=self.store.sentence_vectors)

    @cached_property
    def checker(self) -> SupportChecker:
        """The eval's self-consistency judge of citations (see ``qa_service.support_check``)."""
        return SupportChecker(self.embedder, self.settings.checking)

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(self.retriever, PromptBuilder(load_template("answer.txt")), self.generator,
                        self.sentence_vectors, self.settings.generation, self.settings.checking)

    def variant(self, *, embedder: Embedder | None = None, generator: Generator | None = None,
                **changes) -> Services:
        """A container over these settings with ``changes``, sharing this one's models (or
        using the given ones): evals and the bench build indexes over one pair of loaded models."""
        return Services(self.settings.model_copy(update=changes), embedder=embedder or self.embedder,
                        generator=generator or self.generator)

    def warm_up(self) -> None:
        """Load what the first question or write would otherwise wait for: both models, the
        analyser (its sentence splitter no longer loads with the first search, whose passages
        read the sentences stored at ingest), the evaluated prompt prefix and the keyword index."""
        analysis.warm_up()
        self.embedder.warm_up()
        self.generator.warm_up()
        self.answerer.warm_up()
        self.keywords.warm_up()
        self.warm = True

    def close(self) -> None:
        """Release the index connection and the models this container loaded (not shared ones)."""
        built = vars(self)  # cached_property keeps what was made here
        for name in ("retriever", "store", "records"):
            if built.get(name) is not None:
                built[name].close()
        for name, shared in (("embedder", self._shared_embedder), ("generator", self._shared_generator)):
            if name in built and shared is None:
                built[name].close()
        self.warm = False

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
