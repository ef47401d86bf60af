"""HEAD wherever GET is: load balancers and monitors probe /healthz, /readyz and
/favicon.ico with HEAD, and FastAPI's routes take only the methods they declare."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Routes a HEAD request as the GET of its path and sends the response's headers only
    (its Content-Length stays the GET's, as HEAD promises)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
