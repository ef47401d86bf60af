"""With QA_API_KEY set, every request needs ``Authorization: Bearer <key>``, except:

- ``/healthz`` and ``/readyz``, for load balancers and orchestrators;
- the web page (``/``, ``/static/...``, ``/favicon.ico``): files shipped with
  the package that hold no data. A browser cannot add a header to a page it
  navigates to, so a guarded page could never be opened to type the key in;
  the page asks for the key and sends it with every API call it makes;
- ``/metrics`` when QA_METRICS_PUBLIC is true (a scraper without the key).

The guard is middleware rather than a route dependency so that it also covers
what no route declares: /docs, /openapi.json, unknown paths (a 401, never a
404 that would tell which routes exist) and wrong methods.
"""
from __future__ import annotations

import hashlib
import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from qa_service.api.errors import error_response

_PAGE_PREFIXES = ("/static/",)


def public_paths(metrics_public: bool) -> frozenset[str]:
    return frozenset({"/healthz", "/readyz", "/", "/favicon.ico", *(("/metrics",) if metrics_public else ())})


def is_public(path: str, public: frozenset[str]) -> bool:
    return path in public or path.startswith(_PAGE_PREFIXES)


def _digest(text: bytes) -> bytes:
    return hashlib.sha256(text).digest()


class ApiKeyGuard:
    """401 JSON error, before anything else reads the request, for a missing or wrong key."""

    def __init__(self, app: ASGIApp, key: str, metrics_public: bool) -> None:
        self.app = app
        # Digests compare in constant time and at equal length: neither the time taken
        # nor an early exit on length says anything about the key.
        self.key_digest = _digest(key.encode("utf-8"))
        self.public = public_paths(metrics_public)

    def allowed(self, authorization: bytes) -> bool:
        scheme, _, given = authorization.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(_digest(given.strip()), self.key_digest)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"], self.public):
            await self.app(scope, receive, send)
            return
        authorization = dict(scope["headers"]).get(b"authorization", b"")
        if not self.allowed(authorization):
            response = error_response(401, "unauthorized", "this endpoint needs the header "
                                      "'Authorization: Bearer <QA_API_KEY>'", {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
