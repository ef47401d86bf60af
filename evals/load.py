"""A bounded load run against a qa-service on 127.0.0.1.

``python -m evals.load --url http://127.0.0.1:8000 --requests 300 --concurrency 16``
sends a fixed number of mixed requests (ask / search / ingest) at a fixed
concurrency, then prints success rate, 503 rate, latency percentiles and the
server's RSS before and after (when ``--pid`` is given). It stops by itself:
every request has a timeout and the total count is fixed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from evals.metrics import percentile

QUESTIONS = [
    "Who attended the meeting between Lee Jae Myung and Larry Fink?",
    "What did the MOU between Korea and BlackRock cover?",
    "How much will the first phase of the Korea BlackRock investment be?",
    "Where will the first data centre be built?",
    "What did the Bank of Korea decide about its base rate?",
    "Who won the Busan harbour marathon?",
]
MIX = (("ask", 0.5), ("search", 0.4), ("ingest", 0.1))


@dataclass
class LoadResult:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def record(self, kind: str, status: int | str, ms: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.latencies_ms.setdefault(kind, []).append(ms)

    def summary(self) -> dict:
        total = sum(self.statuses.values())
        everything = [ms for values in self.latencies_ms.values() for ms in values]
        rows = {"all": everything, **self.latencies_ms}
        return {
            "requests": total,
            "success_rate": self.statuses[200] / total if total else None,
            "rate_503": self.statuses[503] / total if total else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
            "latency_ms": {
                kind: {f"p{q}": _round(percentile(values, q)) for q in (50, 95, 99)} | {"n": len(values)}
                for kind, values in rows.items()
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise SystemExit(f"refusing to load {host!r}: load runs target 127.0.0.1 only")


def _request(kind: str, n: int, rng: random.Random) -> tuple[str, str, dict]:
    if kind == "ask":
        return "POST", "/v1/ask", {"question": rng.choice(QUESTIONS)}
    if kind == "search":
        return "POST", "/v1/search", {"query": rng.choice(QUESTIONS), "top_k": 5}
    body = (f"Load-test bulletin {n}: the harbour authority logged {rng.randint(10, 99)} ferry crossings "
            "and reported no delays. Officials said the timetable stays the same next week.")
    return "POST", "/v1/articles", {"title": f"Load-test bulletin {n}", "body": body,
                                    "source": "load-test", "published_at": "2025-03-01"}


async def run_load(url: str, requests: int, concurrency: int, seed: int = 7, api_key: str | None = None,
                   timeout_s: float = 120.0) -> LoadResult:
    _check_loopback(url)
    rng = random.Random(seed)
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=requests)
    result = LoadResult()
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for n, kind in enumerate(kinds):
        queue.put_nowait((n, kind))
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                n, kind = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            method, path, body = _request(kind, n, rng)
            started = time.perf_counter()
            try:
                response = await client.request(method, path, json=body)
                status: int | str = response.status_code
            except httpx.HTTPError as exc:
                status = type(exc).__name__
                result.errors[status] += 1
            result.record(kind, status, (time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, headers=headers) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return result


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children, in MB (Linux /proc)."""
    try:
        pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        total_kb = 0
        for p in pids:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        return round(total_kb / 1024, 1)
    except OSError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pid", type=int, help="server process id, to report its RSS before and after")
    parser.add_argument("--api-key")
    parser.add_argument("--json", dest="as_json", action="store_true")
    args = parser.parse_args()
    before = rss_mb(args.pid) if args.pid else None
    started = time.perf_counter()
    result = asyncio.run(run_load(args.url, args.requests, args.concurrency, api_key=args.api_key))
    summary = result.summary() | {"wall_s": round(time.perf_counter() - started, 1),
                                  "concurrency": args.concurrency,
                                  "rss_mb_before": before, "rss_mb_after": rss_mb(args.pid) if args.pid else None}
    if args.as_json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{summary['requests']} requests at concurrency {args.concurrency} in {summary['wall_s']} s")
    print(f"success {summary['success_rate']:.1%}  503 {summary['rate_503']:.1%}  statuses {summary['statuses']}")
    for kind, row in summary["latency_ms"].items():
        print(f"  {kind:7s} n={row['n']:4d}  p50 {row['p50']} ms  p95 {row['p95']} ms  p99 {row['p99']} ms")
    print(f"RSS before {summary['rss_mb_before']} MB, after {summary['rss_mb_after']} MB")


if __name__ == "__main__":
    main()
