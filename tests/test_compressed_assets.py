"""Gradio's front-end assets compressed once per server (ui.compressed_assets)."""

from __future__ import annotations

import gzip
import urllib.request

import brotli

from ui.compressed_assets import ASSETS, COMPILE_HINT, CompressedAssets, served_text
from ui.page_head import plotly_chunk

from .app_harness import running_app


def test_each_text_asset_is_compressed_once_and_javascript_carries_the_compile_hint(tmp_path):
    (tmp_path / "page.js").write_text("console.log('page');\n" * 200)
    (tmp_path / "page.css").write_text("body { margin: 0; }\n" * 200)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG not text")
    assets = CompressedAssets(tmp_path)
    first = assets.get("page.js")
    assert brotli.decompress(first) == COMPILE_HINT + (tmp_path / "page.js").read_bytes() and len(first) < 200
    assert COMPILE_HINT.startswith(b"//# allFunctionsCalledOnLoad") and COMPILE_HINT.endswith(b"\n")
    assert brotli.decompress(assets.get("page.css")) == (tmp_path / "page.css").read_bytes()
    assert assets.get("page.js") is first and assets.compressions == 2
    assert assets.get("logo.png") is None and assets.get("../page.js") is None and assets.get("other.js") is None
    assets.warm().join(timeout=30)
    assert assets.compressions == 2
    assert gzip.decompress(assets.get("page.js", "gzip")) == COMPILE_HINT + (tmp_path / "page.js").read_bytes()
    assert assets.get("page.js", "gzip") is assets.get("page.js", "gzip") and assets.compressions == 3


def fetch(url: str, encoding: str) -> tuple[dict, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept-Encoding": encoding}),
                                timeout=30) as answer:
        return {key.lower(): value for key, value in answer.headers.items()}, answer.read()


def test_the_server_sends_the_compressed_copy_to_a_browser_that_takes_brotli_or_gzip(tmp_path):
    chunk = plotly_chunk()
    plain = (ASSETS.folder / chunk).read_bytes()
    with running_app(tmp_path) as server:
        ASSETS.warm().join(timeout=120)
        before = ASSETS.compressions
        headers, body = fetch(f"{server.url}assets/{chunk}", "gzip, deflate, br")
        assert headers["content-encoding"] == "br" and headers["content-type"].startswith("text/javascript")
        served = brotli.decompress(body)
        assert served == served_text(ASSETS.folder / chunk) and "last-modified" in headers
        assert served.startswith(COMPILE_HINT) and len(served) < len(COMPILE_HINT + plain)  # fewer modules registered
        again_headers, again = fetch(f"{server.url}assets/{chunk}", "br")
        assert again == body and ASSETS.compressions == before  # from memory, not compressed again
        # a browser that takes no brotli (Chrome over plain HTTP to another host) gets the same text gzipped
        gzip_headers, gzipped = fetch(f"{server.url}assets/{chunk}", "gzip, deflate")
        assert gzip_headers["content-encoding"] == "gzip" and gzip.decompress(gzipped) == served
        identity_headers, identity = fetch(f"{server.url}assets/{chunk}", "identity")
        assert "content-encoding" not in identity_headers and identity == plain
        etags = {headers["etag"], gzip_headers["etag"], identity_headers["etag"]}
        assert len(etags) == 3  # three representations, three entity tags
