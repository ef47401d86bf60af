"""Start-up time of ``qa-service serve`` until /readyz answers 200, and its peak memory."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from evals.bench_ask import demo_questions
from evals.bench_stats import spread, timed
from index.demo import demo_corpus_path
from index.loaders import load_paths
from qa_service.services import Services

READY_TIMEOUT_S = 180.0
ASK_TIMEOUT_S = 120.0


def bench_serve(models: Services, n_asks: int) -> dict:
    """Time from process start to the first 200 of /readyz, then answer ``n_asks`` questions
    over HTTP and read the peak resident memory of the server (and any children)."""
    data_dir = Path(tempfile.mkdtemp(prefix="qa-bench-serve-"))
    try:
        _prepare_index(models, data_dir)
        port = _free_port()
        log = data_dir / "server.log"
        with log.open("wb") as sink:
            started = time.perf_counter()
            process = subprocess.Popen(_command(port), env=_environment(data_dir), stdout=sink,
                                       stderr=subprocess.STDOUT)
            try:
                base = f"http://127.0.0.1:{port}"
                startup_s = _wait_ready(process, base, started, log)
                rss_ready = _memory_mb(process.pid, "VmRSS")
                ask_ms = [_ask(base, item.question) for item in demo_questions(n_asks)]
                peak = _memory_mb(process.pid, "VmHWM")
            finally:
                _stop(process)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"startup_s": round(startup_s, 2), "rss_ready_mb": rss_ready, "peak_rss_mb": peak,
            "http_asks": len(ask_ms), "http_ask_ms": spread(ask_ms)}


def _prepare_index(models: Services, data_dir: Path) -> None:
    """An index holding the demo corpus, closed again: embedded Chroma allows one process."""
    with models.variant(data_dir=data_dir, chroma_host=None) as services:
        services.ingestor.ingest(load_paths([demo_corpus_path()]).articles)


def _command(port: int) -> list[str]:
    """The installed console script next to this interpreter, else the CLI module."""
    script = Path(sys.executable).with_name("qa-service")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    return [*prefix, "serve", "--host", "127.0.0.1", "--port", str(port)]


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "QA_CHROMA_HOST"}
    return {**env, "QA_DATA_DIR": str(data_dir), "QA_LLM_BACKEND": "llama_cpp", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_ready(process: subprocess.Popen, base: str, started: float, log: Path) -> float:
    """Seconds from ``started`` to the first 200 from /readyz."""
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"server exited with status {process.returncode} before ready:\n{tail}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:.0f} s")


def _ask(base: str, question: str) -> float:
    response, ms = timed(lambda: httpx.post(f"{base}/v1/ask", json={"question": question}, timeout=ASK_TIMEOUT_S))
    response.raise_for_status()
    return ms


def _memory_mb(pid: int, field: str) -> float:
    """``field`` (VmRSS or VmHWM) of the process plus all its descendants, in MB."""
    total_kb = 0
    for p in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:  # a child that ended meanwhile
            continue
    return round(total_kb / 1024, 1)


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
