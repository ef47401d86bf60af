"""The app factory: settings in, a FastAPI app out.

The lifespan builds the container (unless given), starts the inference worker
and warms the container up before the first request, so no request pays for
loading and /readyz means what it says.
"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from qa_service.api import routes_articles, routes_ask, routes_health, routes_openai, routes_page, routes_sources
from qa_service.api.access_log import redact_access_log
from qa_service.api.auth import ApiKeyGuard, is_public, public_paths
from qa_service.api.body_limit import BodyLimit
from qa_service.api.deps import Runtime
from qa_service.api.errors import install_error_handlers
from qa_service.api.head import HeadAsGet
from qa_service.api.inference import InferenceQueue
from qa_service.api.metrics import Metrics, MetricsMiddleware
from qa_service.services import Services
from qa_service.settings import Settings

_DESCRIPTION = """Question answering over news articles with verified citations.

Every error is JSON `{"error": {"code", "message"}}`. When QA_API_KEY is set,
every endpoint but /healthz, /readyz and the web page needs
`Authorization: Bearer <key>` (/metrics too, unless QA_METRICS_PUBLIC=true).
Model work runs one request at a time behind a bounded queue: when it is
full the answer is 503 with a Retry-After header.
"""


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """The HTTP API and web page over ``services`` (built from ``settings`` when not given, and
    closed with the app). The app takes its HTTP settings from ``settings``; the components
    answer by their own."""
    metrics = Metrics()
    http = settings.http

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        container = services or Services(settings)
        queue = InferenceQueue(http.queue_size, on_change=metrics.queue_waiting.set)
        app.state.runtime = Runtime(container, http, queue, metrics)
        try:
            await run_in_threadpool(container.warm_up)
            yield
        finally:
            queue.close()
            if services is None:
                container.close()

    app = FastAPI(title="qa-service", version="0.1.0", description=_DESCRIPTION, lifespan=lifespan)
    install_error_handlers(app)
    redact_access_log(http.api_key)
    # Added innermost first: metrics see every response, CORS answers preflights
    # (which carry no key) before the key guard, and a request without the key is
    # refused before its body is looked at; only the routes see a HEAD as a GET.
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodyLimit, max_bytes=int(http.max_upload_mb * 2**20), setting="QA_MAX_UPLOAD_MB")
    if http.api_key:
        app.add_middleware(ApiKeyGuard, key=http.api_key, metrics_public=http.metrics_public)
        _document_key(app, public_paths(http.metrics_public))
    if http.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=http.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (routes_ask, routes_articles, routes_sources, routes_openai, routes_health, routes_page):
        app.include_router(module.router)
    app.mount("/static", routes_page.static_files(), name="static")
    return app


def _document_key(app: FastAPI, public: frozenset[str]) -> None:
    """OpenAPI: the bearer scheme, and a 401 on every operation the key guards."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the server's QA_API_KEY"}}
            unauthorized = {"description": "missing or wrong API key", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
            for path, operations in schema["paths"].items():
                if not is_public(path, public):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
                        operation["responses"]["401"] = unauthorized
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the schema
