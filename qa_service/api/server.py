"""``qa-service serve``: uvicorn over the app, with one worker or several."""
from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from qa_service.settings import Settings

if TYPE_CHECKING:
    from qa_service.services import Services


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
               services: Services | None = None) -> None:
    """Serve the API and the web page, over ``services`` when given (built from ``settings``
    otherwise). ``workers > 1`` only with a Chroma server (QA_CHROMA_HOST); each worker then
    builds its own from the environment."""
    import uvicorn

    from qa_service.api.app import create_app

    check_workers(settings, workers)
    if workers == 1:
        uvicorn.run(create_app(settings, services), host=host, port=port)
    else:
        uvicorn.run("qa_service.api.server:app_from_environment", factory=True, host=host, port=port,
                    workers=workers)
