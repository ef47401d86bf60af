"""Every failure as JSON ``{"error": {"code", "message"}}`` with the right status.

Handlers cover the app's own ``ApiError``, request validation (422, or 400
when the body is not JSON at all), Starlette's HTTP errors (404 for unknown
routes, 405 with an ``Allow`` header naming every method of the path, ...)
and anything unexpected (500, details only in the log, and ``Connection:
close``: after a failure mid-request the connection's state is unknown, and
a client that reused it would see its next request reset). A body that
cannot be decoded is 400 ``invalid_json`` whatever the reason (syntax, not
UTF-8, nested too deeply) and whichever route read it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from index.embeddings import EmbeddingServerError

log = logging.getLogger("qa_service.api")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
    503: "unavailable",
}


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    """An error the client should see as it is."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.extra = extra


def index_unavailable(exc: Exception) -> ApiError:
    """503 for a Chroma server that cannot be reached. Only the Chroma client lets
    httpx transport errors out: the model client turns its own into ModelUnavailable."""
    return ApiError(503, "index_unavailable", f"the index (Chroma server) cannot be reached: {exc}",
                    headers={"Retry-After": "5"})


def embedding_unavailable(exc: EmbeddingServerError) -> ApiError:
    """503 for an embedding server (QA_EMBED_BACKEND=openai) that is down or answers wrongly; the
    message names it."""
    return ApiError(503, "embedding_unavailable", str(exc), headers={"Retry-After": "10"})


def invalid_json(cause: Exception | str) -> ApiError:
    """400 ``invalid_json`` for a body that could not be decoded as JSON."""
    if isinstance(cause, RecursionError):
        reason = "it is nested too deeply"
    elif isinstance(cause, UnicodeDecodeError):
        reason = "it is not UTF-8"
    else:
        reason = str(cause)
    return ApiError(400, "invalid_json", f"the request body is not valid JSON: {reason}")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _where(loc: tuple | list) -> str:
    """("body", "filters", "sources", 0) -> "filters.sources[0]"."""
    parts = list(loc[1:] if loc[:1] in (("body",), ["body"]) else loc) or ["body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    # A field name may hold a lone surrogate, which no response could encode.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A one-line message plus per-field details from pydantic's error list."""
    details = [{"field": _where(e.get("loc", ())), "message": e.get("msg", "invalid").removeprefix("Value error, ")}
               for e in errors]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    if len(details) > 5:
        message += f"; and {len(details) - 5} more"
    return message or "invalid request", details


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.code, exc.message, exc.headers, **exc.extra)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        return await _api_error(request, invalid_json((bad_json.get("ctx") or {}).get("error", "could not be parsed")))
    message, details = _describe_validation(errors)
    return error_response(422, "validation_error", message, details=details)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
        # FastAPI's own body decoding failed (json.JSONDecodeError is handled as validation).
        return await _api_error(request, invalid_json(exc.__cause__))
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = "no such route or resource"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        # Starlette names the methods of the first route of the path only (GET of
        # /v1/articles/{id}, not its DELETE).
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, code, message, headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes on this request's path (HEAD wherever GET is).

    Asked of the router method by method: FastAPI nests included routers, whose routes
    a walk of ``app.routes`` would not reach.
    """
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                      for route in request.app.router.routes)]
    return sorted({*allowed, "HEAD"} if "GET" in allowed else set(allowed))


async def _index_down(request: Request, exc: httpx.TransportError) -> JSONResponse:
    return await _api_error(request, index_unavailable(exc))


async def _embedding_down(request: Request, exc: EmbeddingServerError) -> JSONResponse:
    return await _api_error(request, embedding_unavailable(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "the server failed to handle this request; see its log",
                          {"Connection": "close"})


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types a handler as taking any Exception; each of these takes the class it is registered for.
    handlers: dict[type[Exception], Callable[..., Any]] = {
        ApiError: _api_error, RequestValidationError: _validation_error, StarletteHTTPException: _http_error,
        httpx.TransportError: _index_down, EmbeddingServerError: _embedding_down, Exception: _unexpected}
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
