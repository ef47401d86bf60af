"""What routes get from the app: the runtime objects and the request checks."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

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
