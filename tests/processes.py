"""Starting and stopping the real servers tests need, on 127.0.0.1 only."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without QA_* settings, offline, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    return env | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"} | extra


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(command: list[str], ready_url: str, timeout_s: float = 120,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Starts ``command`` (in ``clean_env(**env)``), waits until ``ready_url`` answers 200, stops it on exit."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=clean_env(**(env or {})))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"{command[0]} exited with {process.returncode}"
            assert time.monotonic() < deadline, f"{command[0]} not ready within {timeout_s} s"
            time.sleep(0.3)
        yield process
    finally:
        stop(process)


def chroma_server(path: Path, port: int):
    """A real ``chroma run`` (context manager)."""
    return running([str(BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                   f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout_s=60)


def llama_server(port: int, alias: str):
    """A real ``python -m llama_cpp.server`` with the packaged GGUF (context manager)."""
    from qa_service.generation import default_gguf_path

    return running([sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf_path()),
                    "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2",
                    "--model_alias", alias], f"http://127.0.0.1:{port}/v1/models")
