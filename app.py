"""CLIP-AE Explorer: the Gradio app's entry point (``python app.py``, a Hugging Face Space's ``app_file``).

Run ``python app.py [--example] [--port N] [--shared-library]``; at start, the bundled example (the default, or
the one ``--example`` names) is analysed in the background and saved unless it is already, so its first
visitor loads it from disk (``ui.saved_analyses.prepare_example``). The page is built in ``ui.layout``
and its handlers live in ``ui.explorer``; per-session state (the current ``Analysis``, the
session's analysis cache, the selected cluster and segment) lives in ``gr.State``; each session's
files and library live in its own folders, found by Gradio's session hash (``ui.sessions``); the
process holds only shared resources (``ui.services``: the pipeline, the analysis slots, the shared
library when there is one).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from starlette.middleware import Middleware  # noqa: E402

from ui.compressed_assets import ASSETS, CompressedAssetsMiddleware  # noqa: E402
from ui.explorer import Explorer  # noqa: E402,F401 - re-exported for tests and scripts
from ui.layout import APP_CSS, INSTRUMENT_JS, build_demo  # noqa: E402
from ui.limits import BodySizeLimit  # noqa: E402
from ui.page_head import page_head  # noqa: E402
from ui.saved_analyses import start_preparing_example  # noqa: E402
from ui.services import AppConfig, AppServices  # noqa: E402
from utal_core.examples import DEFAULT_EXAMPLE, EXAMPLES  # noqa: E402

services = AppServices(AppConfig.from_env())
demo = build_demo(services)


def launch(blocks: gr.Blocks, config: AppConfig, port: int | None = None, host: str = "127.0.0.1", **kwargs) -> Any:
    """Launch with the app's limits: upload size, the folders files may be sent from, no share link; Gradio's
    front-end assets are sent compressed once per server (``ui.compressed_assets``).

    ``show_error=False``: only our plain ``gr.Error`` messages reach the page, never Gradio's own
    exception text (which can name server paths)."""
    config.check_private_folders()
    for folder in (config.library_dir, config.work_dir):
        folder.mkdir(parents=True, exist_ok=True)
    too_large = (f"This file is larger than the server's upload limit of {config.max_file_size} "
                 "(UTAL_MAX_UPLOAD); try a shorter or smaller video.")
    middleware = [Middleware(BodySizeLimit, limit_bytes=config.max_upload_bytes, message=too_large),
                  Middleware(CompressedAssetsMiddleware)]
    ASSETS.warm()
    return blocks.launch(server_name=host, server_port=port, share=False, max_file_size=config.max_file_size,
                         allowed_paths=config.allowed_paths, show_error=False, ssr_mode=False, js=INSTRUMENT_JS,
                         css=APP_CSS, head=page_head(), app_kwargs={"middleware": middleware}, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CLIP-AE Explorer web app")
    parser.add_argument("--example", nargs="?", const=DEFAULT_EXAMPLE, default=None,
                        choices=list(EXAMPLES), help="analyse the bundled example when the page loads")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--shared-library", action="store_true",
                        help="one library for every visitor and every run (a personal machine; "
                             "default: each session has its own; also UTAL_SHARED_LIBRARY=1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    services.config.example = args.example
    services.config.shared_library = services.config.shared_library or args.shared_library
    # the first visitor gets the example from disk, not from a model run; the page is served meanwhile
    start_preparing_example(services, args.example or DEFAULT_EXAMPLE)
    launch(demo, services.config, port=args.port, host=args.host)


if __name__ == "__main__":
    main()
