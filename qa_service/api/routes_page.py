"""GET / (the web page), its files under /static, and /favicon.ico.

The page is index.html with the server's question length limit written into
the question box (``maxlength``), so the browser stops at the limit instead
of the server refusing the question after it was typed.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import Scope

from qa_service.api.deps import runtime

WEB_DIR = Path(str(resources.files("qa_service").joinpath("web")))

# The page needs nothing but its own files and this API; a policy that says so
# keeps injected markup inert even if escaping were ever to fail.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def page(request: Request) -> Response:
    limit = runtime(request).http.max_question_chars
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8").replace("{{max_question_chars}}", str(limit))
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The page links its icon; this answers clients that ask for the conventional path."""
    return FileResponse(WEB_DIR / "favicon.svg", media_type="image/svg+xml")


class _PageFiles(StaticFiles):
    """The page's scripts, styles and icon. Not index.html: served from here it would
    come without its security headers (a page that may be framed, with no CSP) and
    without the question limit."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == "index.html":
            raise HTTPException(404)
        return await super().get_response(path, scope)


def static_files() -> StaticFiles:
    return _PageFiles(directory=WEB_DIR)
