"""``qa-service serve``: optional demo ingest, then uvicorn."""
from __future__ import annotations

from fastapi import FastAPI

from qa_service.settings import Settings


class ServeError(SystemExit):
    """The server cannot start with these options (a SystemExit, so the CLI prints
    the message and exits with status 1 instead of showing a traceback)."""


def check_workers(settings: Settings, workers: int) -> None:
    """Several worker processes need a Chroma server: embedded Chroma allows one writer process."""
    if workers > 1 and not settings.chroma_host:
        raise ServeError(
            f"--workers {workers} needs a Chroma server (set QA_CHROMA_HOST): the embedded store "
            "in QA_DATA_DIR can be opened by one process only. Use --workers 1, or run "
            "`chroma run` and point QA_CHROMA_HOST / QA_CHROMA_PORT at it."
        )


def app_from_environment() -> FastAPI:
    """App factory for uvicorn worker processes, which read their settings from QA_* variables."""
    from qa_service.api.app import create_app

    return create_app(Settings())


def run_server(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
               ingest_demo: bool = False) -> None:
    """Serve the API and the web page; with ``ingest_demo``, index the demo corpus first
    if the index is empty. ``workers > 1`` only with a Chroma server (QA_CHROMA_HOST);
    each worker then builds its settings from the environment."""
    import uvicorn

    from qa_service.api.app import create_app
    from qa_service.cli import demo_corpus_path, ingest_with_progress
    from qa_service.services import Services

    check_workers(settings, workers)
    services = None
    if ingest_demo:
        from index.loaders import load_paths

        services = Services.build(settings)
        if services.store.count_articles() == 0:
            loaded = load_paths([demo_corpus_path()], max_file_bytes=settings.max_file_bytes)
            ingest_with_progress(services, loaded)
    if workers == 1:
        uvicorn.run(create_app(settings, services), host=host, port=port)
    else:
        uvicorn.run("qa_service.api.server:app_from_environment", factory=True, host=host, port=port,
                    workers=workers)
