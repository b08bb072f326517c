"""The player component: a ``gr.Video`` that is only given files a browser plays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData


class PlayableVideo(gr.Video):
    """``gr.Video`` for files made browser-playable already (``ui.player.browser_video`` converts any other), so
    Gradio does not run its own ffprobe check on each one it is handed (a third of a second or more per answer)."""

    is_template = True  # drawn by the page as a gr.Video

    def postprocess(self, value: Any) -> FileData | None:
        if isinstance(value, (str, Path)):
            return FileData(path=str(value), orig_name=Path(value).name)
        return super().postprocess(value)
