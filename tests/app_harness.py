"""Start the Gradio app in this process on a free 127.0.0.1 port, with temporary library and work folders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from utal_core.pipeline import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]

#: Chromium flags for the browser tests and benchmark (Debian chromium, no network, throwaway profile).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
#: A browser test module's marks: ``browser``, and skipped with the reason where chromium or ffmpeg is missing.
BROWSER_MODULE = [pytest.mark.browser,
                  pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("ffmpeg") is None,
                                     reason="needs /usr/bin/chromium and ffmpeg")]
#: How long a browser test waits for an analysis that runs the model (minutes on a shared, busy machine).
ANALYSIS_TIMEOUT_MS = 420_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningApp:
    url: str
    services: object  # app.AppServices


@contextmanager
def running_app(folder: Path, pipeline: PipelineConfig | None = None, pipeline_object=None, port: int | None = None,
                **settings) -> Iterator[RunningApp]:
    """The app served from a thread (on ``port``, else a free one: a restarted server keeps its port, so the
    browser's local storage for it survives); ``pipeline_object`` replaces the lazily built pipeline when given,
    ``settings`` override AppConfig fields (e.g. ``shared_library=True``)."""
    import app

    config = app.AppConfig(library_dir=folder / "library", work_dir=folder / "work",
                           pipeline=pipeline or PipelineConfig(cache_dir=str(folder / "features")), **settings)
    services = app.AppServices(config, pipeline=pipeline_object)
    demo = app.build_demo(services)
    port = port or free_port()
    app.launch(demo, config, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield RunningApp(url=f"http://127.0.0.1:{port}/", services=services)
    finally:
        demo.close()


@contextmanager
def chromium_page(profile: Path, viewport: tuple[int, int] = (1400, 1000)):
    """A playwright page in Debian chromium with a fresh profile folder."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@contextmanager
def app_page(folder: Path, viewport: tuple[int, int] = (1440, 900), pipeline: PipelineConfig | None = None,
             timeout_ms: int = 60_000, **settings):
    """The app served (see :func:`running_app`, which takes ``settings``) and a chromium page on it, loaded:
    ``(RunningApp, page)``."""
    with running_app(folder, pipeline=pipeline, **settings) as server, chromium_page(folder / "profile", viewport) as page:
        page.set_default_timeout(timeout_ms)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        yield server, page


@contextmanager
def app_process(folder: Path, *args: str, code: Path = ROOT, **env: str) -> Iterator[tuple[str, float]]:
    """``code``'s ``app.py ARGS`` as a new server process on a free 127.0.0.1 port, as ``python app.py`` starts it
    (a Space, ``make demo``), its output in ``folder/server.log``; ``env`` is added to its environment. Yields its
    URL and the seconds it took to answer."""
    port = free_port()
    started = time.monotonic()
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen([sys.executable, str(code / "app.py"), *args, "--port", str(port)], cwd=code,
                                  env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", **env),
                                  stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"app.py exited with {server.returncode}: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url, time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
