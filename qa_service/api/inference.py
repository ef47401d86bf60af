"""The bounded inference queue: one worker thread runs model work, one job at a time.

llama.cpp (and the 2 CPU cores it runs on) does one generation at a time, so
requests take turns instead of competing. At most ``capacity`` jobs wait
behind the running one; beyond that ``submit`` raises ``QueueFull`` at once,
which the API answers with 503 and a Retry-After estimate, so a burst never
piles up unbounded work.

A job is a function returning an iterator (``Answerer.stream``). The worker
pulls items from it and hands them to the event loop through an asyncio
queue, so the loop never blocks on the model. Cancelling a job (its client
went away) frees its place: a waiting job is dropped before it starts, a
running one is closed before its next item (for an answer: its next token)
and its ``interrupt`` hook is called, which stops the model even in the
middle of evaluating a prompt, where no item comes for seconds.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _END = "item", "error", "end"
# Starting guess of one job's duration (seconds), before any job has run.
_FIRST_GUESS_S = 5.0


class QueueFull(Exception):
    """No room in the queue; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the inference queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


class Job(Generic[T]):
    """One unit of model work, consumed as an async iterator of its items."""

    def __init__(self, work: Callable[[], Iterator[T]], loop: asyncio.AbstractEventLoop,
                 leave: Callable[[Job[T]], None], interrupt: Callable[[], None] | None = None,
                 resume: Callable[[], None] | None = None) -> None:
        self._work = work
        self._loop = loop
        self._leave = leave
        self.interrupt = interrupt
        self.resume = resume
        self._items: asyncio.Queue = asyncio.Queue()
        self._cancelled = threading.Event()
        self.finished = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Give up on the job (from the event loop): it leaves the queue and its
        iterator ends, even if the worker never gets to it."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._leave(self)
            self._items.put_nowait((_END, None))

    def drop(self) -> None:
        """Ends the consumer's iteration without items: the job will never run."""
        self._send(_END, None)

    def run(self) -> None:
        """Called by the worker thread: run the work, forwarding its items."""
        items = None
        try:
            items = self._work()
            for item in items:
                if self.cancelled:
                    break
                self._send(_ITEM, item)
        except Exception as exc:  # handed to the consumer, which turns it into an error response
            self._send(_ERROR, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # stops the generator (and the model) where it stood
            self._send(_END, None)

    def _send(self, kind: str, value: object) -> None:
        try:
            self._loop.call_soon_threadsafe(self._items.put_nowait, (kind, value))
        except RuntimeError:
            pass  # the event loop is closed: nobody is listening any more

    async def __aiter__(self) -> AsyncIterator[T]:
        """The job's items in order; leaving early (or being cancelled) cancels the job."""
        try:
            while True:
                kind, value = await self._items.get()
                if kind == _END:
                    self.finished = True
                    return
                if kind == _ERROR:
                    self.finished = True
                    raise value
                yield value
        finally:
            if not self.finished:
                self.cancel()


class InferenceQueue:
    """One worker thread; at most ``capacity`` jobs waiting behind the running one."""

    def __init__(self, capacity: int, on_change: Callable[[int], None] | None = None) -> None:
        self.capacity = max(0, capacity)
        self._on_change = on_change or (lambda waiting: None)
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._cond = threading.Condition()
        self._mean_s = _FIRST_GUESS_S
        self._thread = threading.Thread(target=self._serve, name="inference", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running is not None

    def submit(self, work: Callable[[], Iterator[T]], interrupt: Callable[[], None] | None = None,
               resume: Callable[[], None] | None = None) -> Job[T]:
        """Queue ``work``; raises QueueFull when ``capacity`` jobs already wait. ``interrupt``
        is called (from the event loop) if the job is cancelled while it runs; ``resume``
        when it ends, so that the interrupt stops every model call of this job and none
        of the next."""
        job: Job[T] = Job(work, asyncio.get_running_loop(), self._leave, interrupt, resume)
        with self._cond:
            if self._closed:
                raise QueueFull(self._retry_after())
            admitted = len(self._waiting) + (1 if self._running else 0)
            if admitted > self.capacity:  # the running job plus ``capacity`` waiting
                raise QueueFull(self._retry_after())
            self._waiting.append(job)
            self._cond.notify()
            self._on_change(len(self._waiting))
        return job

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker after its current job; jobs still waiting are dropped."""
        with self._cond:
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            self._cond.notify_all()
        for job in dropped:
            job.drop()
        self._thread.join(timeout)

    def _retry_after(self) -> int:
        """Seconds until a place is likely free: the queue ahead times a mean job time."""
        ahead = len(self._waiting) + (1 if self._running else 0)
        return max(1, min(120, math.ceil(ahead * self._mean_s)))

    def _leave(self, job: Job) -> None:
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                self._on_change(len(self._waiting))
            elif job is self._running and job.interrupt is not None:
                # Under the lock, so that it never reaches a job started after this one
                # (the model is resumed when this one ends). A cancel before the model's
                # first call stops that call.
                job.interrupt()

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._waiting.popleft()
                self._running = job
                self._on_change(len(self._waiting))
            started = time.perf_counter()
            ran = not job.cancelled
            try:
                if ran:
                    job.run()
            finally:
                with self._cond:
                    self._running = None
                    if job.resume is not None:  # under the lock, like the interrupt in _leave
                        job.resume()
                    if ran:  # a moving average keeps the Retry-After estimate current
                        self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - started)
