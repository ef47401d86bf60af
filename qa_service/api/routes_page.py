"""GET / (the web page), its files under /static, and /favicon.ico."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

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


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers=_PAGE_HEADERS)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The page links its icon; this answers clients that ask for the conventional path."""
    return FileResponse(WEB_DIR / "favicon.svg", media_type="image/svg+xml")


def static_files() -> StaticFiles:
    return StaticFiles(directory=WEB_DIR)
