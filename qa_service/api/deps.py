"""What routes get from the app: the runtime objects and the request checks."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from qa_service.api.errors import ApiError
from qa_service.api.inference import InferenceQueue
from qa_service.api.metrics import Metrics
from qa_service.services import Services
from qa_service.settings import HttpSettings


@dataclass
class Runtime:
    """What one app adds to the container, set up by its lifespan: the HTTP settings
    (the components' own settings are ``services.settings``), the inference queue,
    the metrics and the write lock."""

    services: Services
    http: HttpSettings
    queue: InferenceQueue
    metrics: Metrics
    # Index writes (ingest, delete) go one at a time: two ingests of the same
    # article must not interleave their delete-then-add of its chunks.
    writes: threading.Lock = field(default_factory=threading.Lock)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # Starlette's json.loads of bytes decodes with "surrogatepass": an encoded surrogate
            # (ED A0 80) would become a string no response can hold. A decoding error here is
            # FastAPI's 400 with this cause, which errors.py renders as invalid_json.
            self._json = json.loads((await self.body()).decode("utf-8-sig"))
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body must be UTF-8 (RFC 8259), as /v1/articles reads it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict


def is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def require_json(request: Request) -> None:
    """415 for a body sent as anything but JSON, as on /v1/articles (FastAPI would
    otherwise validate the raw bytes and answer 422)."""
    if not is_json(request.headers.get("content-type")):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


def check_length(text: str, limit: int, what: str, setting: str) -> None:
    """422 naming the limit when ``text`` is longer than ``limit`` characters."""
    if len(text) > limit:
        raise ApiError(422, f"{what}_too_long",
                       f"the {what} is {len(text):,} characters; the limit is {limit:,} ({setting})")
