"""``qa-service embed-serve``: the in-process embedding model behind an OpenAI-compatible
``POST /v1/embeddings`` (with ``GET /v1/models`` and ``/healthz``).

One model for several API workers or ingest processes, or on a machine of its own (a GPU
box), reached with ``QA_EMBED_BACKEND=openai``. Like Hugging Face TEI it serves the one model
it loaded whatever a request names, and says which in every reply; qa-service's client
refuses a reply naming another model than it asked for.

Batches are encoded one at a time, each on every core (two at once would only contend for
them); a request of one text (a search query) does not wait behind them, as in process.
"""
from __future__ import annotations

import base64
import threading
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from index.embeddings import SentenceTransformerEmbedder
from qa_service.api.auth import ApiKeyGuard
from qa_service.api.errors import ApiError, install_error_handlers
from qa_service.settings import Settings

MAX_INPUTS = 2048  # OpenAI's own limit of texts per request


class EmbeddingRequest(BaseModel):
    """OpenAI's request; ``dimensions`` and ``user`` are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    input: str | list[str] = Field(description="a text, or a list of at most 2048")
    model: str | None = Field(None, description="ignored: the reply names the model that answered")
    encoding_format: Literal["float", "base64"] = "float"


def create_embed_app(embedder: SentenceTransformerEmbedder, served_name: str | None = None,
                     api_key: str | None = None) -> FastAPI:
    """The embeddings server over ``embedder`` (loaded before the first request), answering as
    ``served_name`` (default: the model's own name); ``api_key`` guards every route but /healthz."""
    name = served_name or embedder.model_id
    batches = threading.Lock()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await run_in_threadpool(embedder.warm_up)
        yield
        embedder.close()

    app = FastAPI(title="qa-service embeddings", version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    if api_key:
        app.add_middleware(ApiKeyGuard, key=api_key, metrics_public=False)

    @app.post("/v1/embeddings")
    def embeddings(body: EmbeddingRequest) -> JSONResponse:
        texts = [body.input] if isinstance(body.input, str) else body.input
        if not 0 < len(texts) <= MAX_INPUTS:
            raise ApiError(422, "validation_error", f"input holds {len(texts)} texts; send 1 to {MAX_INPUTS}")
        if len(texts) == 1:
            vectors = embedder.embed_query(texts[0])[None]
        else:
            with batches:
                vectors = embedder.embed(texts)
        tokens = sum(len(ids) for ids in embedder.model.tokenizer(texts, truncation=True)["input_ids"])
        # A JSONResponse as it is: FastAPI's encoder would walk every float of every vector.
        return JSONResponse({
            "object": "list", "model": name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "data": [{"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
                     for i, v in enumerate(vectors)]})

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "qa-service"}]}

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app


def _encoded(vector, encoding_format: str) -> list[float] | str:
    """As OpenAI sends it: a list of floats, or base64 of the little-endian float32 bytes."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


def run_embed_server(settings: Settings, host: str, port: int, served_name: str | None = None) -> None:
    """Serve QA_EMBED_MODEL in this process (whatever QA_EMBED_BACKEND says: this is the server)."""
    import uvicorn

    s = settings.embedding
    embedder = SentenceTransformerEmbedder(s.embed_model, s.embed_batch_size, verbose=settings.verbose)
    uvicorn.run(create_embed_app(embedder, served_name, s.embed_api_key), host=host, port=port)
