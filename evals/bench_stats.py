"""Small numeric helpers shared by the benchmark sections."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from evals.metrics import percentile

T = TypeVar("T")


def timed(call: Callable[[], T]) -> tuple[T, float]:
    """``call()``'s result and its wall time in milliseconds."""
    started = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - started) * 1000


def spread(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50 and p95 of a list of milliseconds, rounded to 0.1 ms."""
    return {name: _round(percentile(values_ms, q)) for name, q in (("p50", 50), ("p95", 95))}


def ratio(ours: float | None, raw: float | None) -> float | None:
    """``ours / raw`` rounded to 3 places; None when either side is missing or raw is zero."""
    if ours is None or not raw:
        return None
    return round(ours / raw, 3)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
