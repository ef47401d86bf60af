"""Access-log lines without secrets.

The API takes its key in a header only, but a client may put one in a query
string (``?api_key=...``), and uvicorn logs every request's path with its
query. ``redact_access_log`` puts a filter on uvicorn's access logger that
hides the values of parameters named like a secret, and the server's own key
wherever it appears.
"""
from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus

_SECRET_PARAMETER = re.compile(r"(?i)([?&][^=&]*(?:key|token|secret|password|passwd|auth|signature|sig)[^=&]*=)[^&]*")
_HIDDEN = "REDACTED"


class _Redact(logging.Filter):
    def __init__(self) -> None:
        super().__init__("qa_service.access_log")
        self.keys: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client, method, path with query, HTTP version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], self.redacted(args[2]), *args[3:])
        return True

    def redacted(self, path: str) -> str:
        path = _SECRET_PARAMETER.sub(rf"\1{_HIDDEN}", path)
        for key in self.keys:
            for written in {key, quote(key, safe=""), quote_plus(key)}:
                path = path.replace(written, _HIDDEN)
        return path


_FILTER = _Redact()


def redact_access_log(api_key: str | None) -> None:
    """Keep secrets (and ``api_key``) out of uvicorn's access log, from now on, in this process."""
    logger = logging.getLogger("uvicorn.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    if api_key:
        _FILTER.keys.add(api_key)
