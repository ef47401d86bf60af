"""Settings: environment variables with the prefix ``QA_``, or a ``.env``-style file.

Built once by the caller (CLI command or app factory) and passed down; nothing
in the project reads the environment at import time.

Each group below is what one kind of component takes (the retriever its
``RetrievalSettings``, the answerer its ``GenerationSettings`` ...), and the
one place its defaults are written. ``Settings`` inherits every group, so the
variable names stay flat (``QA_TOP_K``, not ``QA_RETRIEVAL__TOP_K``), and hands
out each group as a view: ``settings.retrieval``.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBED_MODEL = "all-MiniLM-L6-v2"


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrievalSettings(_Group):
    top_k: int = 5
    max_per_article: int = 3
    rrf_k: int = 60
    min_relevance: float = Field(0.25, description="best dense cosine below this -> abstain")
    recency_half_life_days: float = 7.0
    recency_weight: float = Field(0.3, description="max boost of a story published on the as_of day")
    sentence_retrieval: bool = Field(True, description="also search sentence vectors; a matching sentence brings "
                                     "its chunk")
    keep_leaders: bool = Field(True, description="each retriever's first chunk stays in the top k (fusion can drop "
                                                 "a chunk only one of them finds)")


class GenerationSettings(_Group):
    # -- contract names (design.md) --
    llm_backend: Literal["llama_cpp", "openai"] = "llama_cpp"
    gguf_path: Path | None = None
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_model: str = "default"
    openai_api_key: str | None = None

    llm_context: int = 2048
    llm_threads: int = 2
    llm_timeout_s: float = 60.0
    llm_retries: int = 2
    max_answer_tokens: int = Field(96, description="most tokens of a generated completion (the OpenAI-compatible "
                                   "endpoint refuses a smaller max_tokens)")
    answer_style: Literal["short", "sentence"] = Field(
        "short", description="short: the answer is the span the reader picked (a name, a list of names, an amount, "
        "a date), each part cited; sentence: the whole sentences that state it, quoted")
    judge_candidates: int = Field(4, ge=0, description="the reader's best candidate answers the model re-ranks by "
                                  "its likelihood of each as the answer; 0 = the reader's order, no model runs")


class CheckingSettings(_Group):
    min_sentence_score: float = Field(0.0, description="reader: an evidence sentence scoring below this "
                                      "(cosine + 0.6 x share of the question's rare words) is not read")
    min_answer_score: float = Field(0.33, ge=0, le=1, description="reader: abstain when the probability that the "
                                    "best answer is right is below this (fitted with the scorer: "
                                    "evals/train_reader.py)")
    support_threshold: float = Field(0.5, description="eval citation checker: quotes whose meaning is this close "
                                     "(MiniLM cosine) support a statement that rewords them")


class EmbeddingSettings(_Group):
    embed_model: str = Field(DEFAULT_EMBED_MODEL, description="contract name (design.md): the packaged MiniLM or "
                             "a sentence-transformers directory; with the openai backend, the model asked of the "
                             "server, which must answer with the same name")
    embed_backend: Literal["sentence_transformers", "openai"] = Field(
        "sentence_transformers", description="sentence_transformers: the model in this process; openai: an "
        "OpenAI-compatible POST /v1/embeddings server (qa-service embed-serve, infinity-emb, TEI, vLLM)")
    embed_batch_size: int = Field(16, ge=1, description="a batch (in process) or a request (openai) holds this many "
                                  "texts of the longest length, or more shorter ones")
    embed_base_url: str = "http://127.0.0.1:7997/v1"
    embed_api_key: str | None = Field(None, description="openai: sent as a bearer key; embed-serve requires it "
                                      "when set")
    embed_timeout_s: float = Field(30.0, gt=0, description="openai: most seconds one request may take")
    embed_retries: int = Field(2, ge=0, description="openai: retries of a request the server failed or dropped")
    embed_workers: int = Field(1, ge=1, description="openai: embedding requests in flight at once")

    @model_validator(mode="after")
    def _workers_need_a_server(self):
        if self.embed_workers > 1 and self.embed_backend != "openai":
            raise ValueError(
                f"QA_EMBED_WORKERS={self.embed_workers} needs QA_EMBED_BACKEND=openai: the model in this "
                "process already uses every core for each batch, so more workers would only contend")
        return self


class HttpSettings(_Group):
    api_key: str | None = None  # contract name (design.md)
    max_question_chars: int = 1000
    max_article_chars: int = 200_000
    # Every field of an article is bounded: each is listed, searched and sent with every passage.
    max_title_chars: int = Field(500, ge=1)
    max_source_chars: int = Field(200, ge=1)
    max_url_chars: int = Field(2000, ge=1)
    max_authors_chars: int = Field(2000, ge=1, description="all author names of an article together")
    max_captions_chars: int = Field(20_000, ge=1, description="all photo captions of an article together")
    max_batch_articles: int = 100
    max_upload_mb: float = 10.0
    max_file_mb: float = 10.0
    queue_size: int = 8
    cors_origins: list[str] = []
    metrics_public: bool = Field(False, description="/metrics answers without QA_API_KEY (for a scraper)")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


G = TypeVar("G", bound=_Group)


class _View(Generic[G]):
    """``settings.retrieval`` and its siblings: one group's fields of these settings."""

    def __init__(self, group: type[G]) -> None:
        self.group = group

    def __get__(self, settings: BaseModel | None, owner: type | None = None) -> G:
        return self.group(**{name: getattr(settings, name) for name in self.group.model_fields})


class Settings(RetrievalSettings, GenerationSettings, CheckingSettings, EmbeddingSettings, HttpSettings,
               BaseSettings):
    """Every knob of the service. Names marked as contract names are public (design.md)."""

    model_config = SettingsConfigDict(env_prefix="QA_", env_file=None, extra="ignore", frozen=False)

    # -- contract names (design.md) --
    data_dir: Path = Path(".qa-data")
    chroma_host: str | None = None
    chroma_port: int = 8000

    # -- command line --
    server_url: str | None = Field(None, description="the CLI talks to the qa-service at this URL instead of "
                                   "loading models (client mode)")
    client_timeout_s: float = Field(300.0, gt=0, description="client mode: how long to wait for the server's answer")
    verbose: bool = Field(False, description="llama.cpp warnings and transformers progress bars reach stderr; "
                          "the CLI also prints timings and who answered")

    # -- index --
    collection: str = "articles"
    chunk_size: int = Field(120, ge=1, description="most words of a chunk (whole sentences; a longer sentence "
                            "is a chunk of its own)")
    chunk_overlap: int = Field(25, ge=0, description="words of whole sentences a chunk repeats from the previous one")
    analysis_timeout_s: float = Field(10.0, gt=0, description="most seconds cutting one article into chunks and "
                                      "sentences may take at ingest (a 200,000-character story takes under one); "
                                      "a slower one is listed under failed")

    # -- each group, as its components take it --
    retrieval: ClassVar[_View[RetrievalSettings]] = _View(RetrievalSettings)
    generation: ClassVar[_View[GenerationSettings]] = _View(GenerationSettings)
    checking: ClassVar[_View[CheckingSettings]] = _View(CheckingSettings)
    embedding: ClassVar[_View[EmbeddingSettings]] = _View(EmbeddingSettings)
    http: ClassVar[_View[HttpSettings]] = _View(HttpSettings)

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"
