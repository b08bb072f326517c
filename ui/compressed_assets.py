"""Gradio's front-end assets sent brotli-compressed from memory: each compressed once per server, not per visitor.

Gradio's own middleware compresses every JavaScript and CSS response on every request: about 5 MB for each
new visitor, the Plotly chunk alone 4.6 MB, on the CPU the app's analyses and the visitor's own page share.
The assets are built files of the installed Gradio, so one compressed copy serves every visitor.

Each JavaScript asset is sent with V8's explicit compile hint on its first line (``COMPILE_HINT``, Chrome 136+; a
plain comment elsewhere). Without it, a new visitor's browser compiles each function lazily on the page's main
thread when the page first calls it: most of Gradio's start-up and Plotly's module evaluation. With it, the whole
file is compiled on a background thread while it loads, so the main thread only runs the code
(``benchmarks/first_visit.py --main-thread``: about 0.4 s less of the page's main-thread CPU for a first visit).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import brotli
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response

from .page_head import FRONTEND_ASSETS, PLOTLY_CHUNK
from .plotly_bundle import served_chunk

#: Brotli quality: Gradio's own (4) costs about as much as reading the file; 6 is about 8 % smaller for 25 % more
#: CPU, paid once per asset and server.
QUALITY = 6
#: The assets that are text and worth compressing (fonts and images are compressed already).
TEXT_SUFFIXES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: V8's explicit compile hint: every function of the file is compiled eagerly, in the background, as it loads.
#: It must be the file's first line; the rest of the file is unchanged.
COMPILE_HINT = b"//# allFunctionsCalledOnLoad\n"


def served_text(path: Path) -> bytes:
    """What the page gets for asset ``path``: a JavaScript file with :data:`COMPILE_HINT` before it (Gradio's
    Plotly chunk as :func:`~ui.plotly_bundle.served_chunk` makes it), else the file."""
    text = path.read_bytes()
    if path.suffix != ".js":
        return text
    if path.match(PLOTLY_CHUNK):
        text = served_chunk(text.decode()).encode()
    return COMPILE_HINT + text


class CompressedAssets:
    """The brotli-compressed bytes of each text asset in ``folder`` (:func:`served_text`), made on first use (or by
    :meth:`warm`)."""

    def __init__(self, folder: Path = FRONTEND_ASSETS) -> None:
        self.folder = folder
        self.names = {path.name for path in folder.iterdir() if path.suffix in TEXT_SUFFIXES} \
            if folder.is_dir() else set()
        self._compressed: dict[str, bytes] = {}
        self._validators: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self.compressions = 0

    def get(self, name: str) -> bytes | None:
        """The compressed bytes of asset ``name``, or None for a name that is not one of the text assets."""
        if name not in self.names:
            return None
        found = self._compressed.get(name)
        if found is None:
            with self._lock:
                found = self._compressed.get(name)
                if found is None:
                    path = self.folder / name
                    plain = FileResponse(path, stat_result=path.stat())
                    # its own entity tag: these bytes are not the file's (another encoding, and the hint)
                    self._validators[name] = {"etag": plain.headers["etag"][:-1] + '-br"',
                                              "last-modified": plain.headers["last-modified"]}
                    found = brotli.compress(served_text(path), quality=QUALITY)
                    self._compressed[name] = found
                    self.compressions += 1
        return found

    def validators(self, name: str) -> dict[str, str]:
        """The ``Last-Modified`` Gradio's own answer gives asset ``name``, and its ``ETag`` marked as this encoding's
        (once :meth:`get` made it)."""
        return self._validators[name]

    def warm(self) -> threading.Thread:
        """Compress every text asset in a background thread, once (about half a second of CPU for Gradio's
        18 MB), so that even the first visitor gets them from memory."""
        with self._lock:
            if self._warming is None:
                self._warming = threading.Thread(target=lambda: [self.get(name) for name in sorted(self.names)],
                                                 name="compressed-assets", daemon=True)
                self._warming.start()
        return self._warming


#: The server's one set of compressed assets (:class:`CompressedAssetsMiddleware` and ``app.launch``'s warm-up).
ASSETS = CompressedAssets()


class CompressedAssetsMiddleware:
    """ASGI middleware: a GET of ``/assets/<name>`` for one of Gradio's text assets, from a browser that accepts
    brotli, is answered with the compressed copy (Gradio's middleware passes on a response that has its encoding
    already); every other request goes on to Gradio as before."""

    def __init__(self, app: Callable, assets: CompressedAssets = ASSETS) -> None:
        self.app = app
        self.assets = assets

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        path = scope.get("path", "") if scope["type"] == "http" and scope.get("method") == "GET" else ""
        if path.startswith("/assets/") and "br" in Headers(scope=scope).get("accept-encoding", ""):
            name = path[len("/assets/"):]
            body = self.assets.get(name)
            if body is not None:
                headers = {**self.assets.validators(name), "content-encoding": "br", "vary": "Accept-Encoding"}
                answer = Response(body, media_type=TEXT_SUFFIXES[Path(name).suffix], headers=headers)
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)
