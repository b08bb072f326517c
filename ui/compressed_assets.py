"""Gradio's front-end assets sent compressed from memory: each compressed once per server, not per visitor.

Gradio's own middleware compresses every JavaScript and CSS response on every request: about 5 MB for each
new visitor, the Plotly chunk alone 4.6 MB, on the CPU the app's analyses and the visitor's own page share.
The assets are built files of the installed Gradio, so one compressed copy serves every visitor.

Each JavaScript asset is sent with V8's explicit compile hint on its first line (``COMPILE_HINT``, Chrome 136+; a
plain comment elsewhere). Without it, a new visitor's browser compiles each function lazily on the page's main
thread when the page first calls it: most of Gradio's start-up and Plotly's module evaluation. With it, the whole
file is compiled on a background thread while it loads, so the main thread only runs the code
(``benchmarks/first_visit.py --main-thread``: about 0.4 s less of the page's main-thread CPU for a first visit).
Gradio's Plotly chunk is sent with only the app's trace types registered (``ui.plotly_bundle``).

Brotli goes to browsers that take it (over HTTPS and to localhost), gzip to the others (a browser reaching a lab
server by plain HTTP); both carry the same text. A request that takes neither gets Gradio's own file.
"""

from __future__ import annotations

import gzip
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
#: Gzip level: Python's default (9) takes about three times level 6's CPU for about 1 % smaller files.
GZIP_LEVEL = 6
#: The assets that are text and worth compressing (fonts and images are compressed already).
TEXT_SUFFIXES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
#: V8's explicit compile hint: every function of the file is compiled eagerly, in the background, as it loads.
#: It must be the file's first line; the rest of the file is unchanged.
COMPILE_HINT = b"//# allFunctionsCalledOnLoad\n"
#: The encodings the assets are sent in, in the order of preference: brotli, and gzip for a browser that takes no
#: brotli (Chrome advertises brotli over HTTPS and to localhost only, so a server on a lab network reached by
#: plain HTTP gets gzip requests).
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "br": lambda data: brotli.compress(data, quality=QUALITY),
    "gzip": lambda data: gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0),
}


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
    """The compressed bytes of each text asset in ``folder`` (:func:`served_text`) in each of :data:`ENCODINGS`,
    made on first use (brotli for every asset by :meth:`warm`)."""

    def __init__(self, folder: Path = FRONTEND_ASSETS) -> None:
        self.folder = folder
        self.names = {path.name for path in folder.iterdir() if path.suffix in TEXT_SUFFIXES} \
            if folder.is_dir() else set()
        self._compressed: dict[tuple[str, str], bytes] = {}
        self._validators: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None
        self.compressions = 0

    def get(self, name: str, encoding: str = "br") -> bytes | None:
        """The bytes of asset ``name`` compressed with ``encoding`` (one of :data:`ENCODINGS`), or None for a name
        that is not one of the text assets."""
        if name not in self.names:
            return None
        key = (name, encoding)
        found = self._compressed.get(key)
        if found is None:
            with self._lock:
                found = self._compressed.get(key)
                if found is None:
                    path = self.folder / name
                    plain = FileResponse(path, stat_result=path.stat())
                    # its own entity tag: these bytes are not the file's (another encoding, and the hint)
                    self._validators[key] = {"etag": f'{plain.headers["etag"][:-1]}-{encoding}"',
                                             "last-modified": plain.headers["last-modified"]}
                    found = ENCODINGS[encoding](served_text(path))
                    self._compressed[key] = found
                    self.compressions += 1
        return found

    def validators(self, name: str, encoding: str = "br") -> dict[str, str]:
        """The ``Last-Modified`` Gradio's own answer gives asset ``name``, and its ``ETag`` marked as ``encoding``'s
        (once :meth:`get` made it)."""
        return self._validators[(name, encoding)]

    def warm(self) -> threading.Thread:
        """Compress every text asset with brotli in a background thread, once (about half a second of CPU for
        Gradio's 18 MB), so that even the first visitor gets them from memory."""
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
    brotli or gzip, is answered with that compressed copy (Gradio's middleware passes on a response that has its
    encoding already); every other request goes on to Gradio as before."""

    def __init__(self, app: Callable, assets: CompressedAssets = ASSETS) -> None:
        self.app = app
        self.assets = assets

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        path = scope.get("path", "") if scope["type"] == "http" and scope.get("method") == "GET" else ""
        if path.startswith("/assets/"):
            accepted = Headers(scope=scope).get("accept-encoding", "")
            encoding = next((encoding for encoding in ENCODINGS if encoding in accepted), None)
            name = path[len("/assets/"):]
            body = self.assets.get(name, encoding) if encoding else None
            if body is not None:
                headers = {**self.assets.validators(name, encoding), "content-encoding": encoding,
                           "vary": "Accept-Encoding"}
                answer = Response(body, media_type=TEXT_SUFFIXES[Path(name).suffix], headers=headers)
                return await answer(scope, receive, send)
        return await self.app(scope, receive, send)
