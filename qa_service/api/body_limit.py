"""Refuses request bodies over a byte limit (413) before they are read into memory."""
from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa_service.api.errors import error_response


class BodyLimit:
    """A declared Content-Length over the limit is refused at once; a body sent
    without one (chunked) is counted as it arrives and refused when it passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int, setting: str) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"the request body is over the limit of {max_bytes / 2**20:g} MB ({setting})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, "payload_too_large", self.message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException passes through FastAPI's body reading unchanged
                    # and is rendered as JSON by the app's error handlers.
                    raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)
