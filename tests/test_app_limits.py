"""The upload limit over real HTTP: refused before the body is read when its size is declared,
refused by Gradio at the limit when it is not, with a plain message either way."""

from __future__ import annotations

import http.client
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .app_harness import running_app

LIMIT = 1024 * 1024
BOUNDARY = "utal-test-boundary"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app_limits"), max_file_size="1mb") as running:
        yield running


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def multipart(name: str, size: int) -> tuple[bytes, bytes]:
    """The multipart head and tail around a ``size``-byte file part."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def uploads_named(name: str) -> list[Path]:
    from gradio.utils import get_upload_folder

    return list(Path(get_upload_folder()).glob(f"*/{name}"))


def test_declared_oversize_upload_is_refused_before_its_body(server):
    connection = connect(server.url)
    try:
        connection.putrequest("POST", "/gradio_api/upload")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Content-Length", str(2 * 1024 ** 3))  # 2 GiB announced, not one byte sent
        connection.endheaders()
        started = time.monotonic()
        response = connection.getresponse()
        message = response.read().decode()
    finally:
        connection.close()
    assert response.status == 413 and time.monotonic() - started < 5
    assert "larger than the server's upload limit of 1mb" in message and "/" not in message.replace("(UTAL_MAX_UPLOAD)", "")


def test_undeclared_oversize_upload_is_refused_at_the_limit_and_not_kept(server):
    name = f"chunked_{os.getpid()}.mp4"
    head, tail = multipart(name, 3 * LIMIT)
    connection = connect(server.url)
    try:
        connection.putrequest("POST", "/gradio_api/upload")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        chunks = [head, *[b"\0" * (64 * 1024)] * (3 * LIMIT // (64 * 1024)), tail]
        try:
            for chunk in chunks:
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has refused the upload
        response = connection.getresponse()
        message = response.read().decode()
    finally:
        connection.close()
    assert response.status == 413 and "maximum allowed size" in message
    assert uploads_named(name) == []


def test_upload_under_the_limit_is_accepted(server):
    name = f"small_{os.getpid()}.mp4"
    head, tail = multipart(name, LIMIT // 2)
    body = head + b"\0" * (LIMIT // 2) + tail
    connection = connect(server.url)
    try:
        connection.request("POST", "/gradio_api/upload", body=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    stored = uploads_named(name)
    assert len(stored) == 1 and stored[0].stat().st_size == LIMIT // 2
    stored[0].unlink()


def test_strip_prefetch_is_a_setting_with_a_plain_message(monkeypatch):
    from app import AppConfig
    from utal_core.errors import UTALError

    assert AppConfig().prefetch_strips == 2
    monkeypatch.setenv("UTAL_PREFETCH_STRIPS", "0")
    assert AppConfig.from_env().prefetch_strips == 0
    for bad in ("-1", "many", "500"):
        monkeypatch.setenv("UTAL_PREFETCH_STRIPS", bad)
        with pytest.raises(UTALError, match="UTAL_PREFETCH_STRIPS"):
            AppConfig.from_env()


def test_handler_failures_become_one_plain_message_in_every_kind_of_handler():
    """Plain, generator and async handlers alike: a UTALError shows its message, anything else one line."""
    import asyncio

    import gradio as gr

    from ui.messages import user_errors
    from utal_core.errors import UTALError

    def plain():
        raise UTALError("Select a segment first.")

    def streamed():
        yield "first"
        raise ValueError("boom")

    async def waited():
        raise UTALError("Analyse a video first.")

    with pytest.raises(gr.Error, match="Select a segment first"):
        user_errors(plain)()
    stream = user_errors(streamed)()
    assert next(stream) == "first"
    with pytest.raises(gr.Error) as raised:
        next(stream)
    assert "Traceback" not in str(raised.value) and "\n" not in str(raised.value)
    with pytest.raises(gr.Error, match="Analyse a video first"):
        asyncio.run(user_errors(waited)())
