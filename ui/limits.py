"""Size limits on what visitors send: the upload limit setting and a request-body check ahead of Gradio."""

from __future__ import annotations

import re
from typing import Any, Callable

from starlette.responses import PlainTextResponse

from utal_core.errors import UTALError

_UNITS = {"b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3, "tb": 1024 ** 4}
#: Room for the multipart framing around an uploaded file (boundary lines, part headers).
MULTIPART_SLACK = 64 * 1024


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"500mb"`` or ``"2gb"`` (binary units, as Gradio reads them)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)\s*", str(text).lower())
    if match is None:
        raise UTALError(f"Not a size: {text!r} (write it like 500mb or 2gb).")
    return int(float(match[1]) * _UNITS[match[2]])


class BodySizeLimit:
    """ASGI middleware: a request whose declared body (Content-Length) is over ``limit_bytes`` plus
    the multipart framing gets 413 and ``message`` before a byte of its body is read.

    A body sent without a Content-Length (chunked) is left to Gradio's own ``max_file_size``
    check, which writes the upload to a temporary file until it passes the limit, then deletes it.
    """

    def __init__(self, app: Callable, limit_bytes: int, message: str) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.message = message

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.limit_bytes + MULTIPART_SLACK:
                response = PlainTextResponse(self.message, status_code=413, headers={"Connection": "close"})
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)
